"""Out-of-band changes for the demo: what people do in the console."""

import boto3

sts = boto3.client("sts")
c = sts.assume_role(RoleArn="arn:aws:iam::111111111111:role/console-user", RoleSessionName="console")["Credentials"]
ec2 = boto3.client("ec2", aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"],
                   aws_session_token=c["SessionToken"])


def tagged(items, address):
    return [i for i in items if {"Key": "controller:address", "Value": address} in i.get("Tags", [])]


sg = tagged(ec2.describe_security_groups()["SecurityGroups"], "acme/web/Firewall/web")[0]
ec2.authorize_security_group_ingress(GroupId=sg["GroupId"], IpPermissions=[
    {"IpProtocol": "tcp", "FromPort": 3389, "ToPort": 3389, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
print(f"opened tcp/3389 to the world on {sg['GroupId']} (acme/web/Firewall/web)")
vpc = tagged(ec2.describe_vpcs()["Vpcs"], "acme/VirtualDatacenter/web")[0]
ec2.create_tags(Resources=[vpc["VpcId"]], Tags=[{"Key": "Name", "Value": "prod-do-not-touch"}])
print(f"renamed {vpc['VpcId']} (acme/VirtualDatacenter/web) to prod-do-not-touch")
reservations = ec2.describe_instances(Filters=[{"Name": "tag:controller:address",
                                                 "Values": ["acme/web/VirtualMachine/app-1"]}])["Reservations"]
for r in reservations:
    for i in r["Instances"]:
        if i["State"]["Name"] == "running":
            ec2.stop_instances(InstanceIds=[i["InstanceId"]])
            print(f"stopped {i['InstanceId']} (acme/web/VirtualMachine/app-1)")
rds = boto3.client("rds", aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"],
                   aws_session_token=c["SessionToken"])
rds.modify_db_instance(DBInstanceIdentifier="web-orders", BackupRetentionPeriod=1, ApplyImmediately=True)
print("cut the backups of web-orders (acme/web/Database/orders) to 1 day")
r53 = boto3.client("route53", aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"],
                   aws_session_token=c["SessionToken"])
zone = [z for z in r53.list_hosted_zones()["HostedZones"] if z["Name"] == "shop.acme.example."][0]
r53.change_resource_record_sets(HostedZoneId=zone["Id"], ChangeBatch={"Changes": [
    {"Action": "UPSERT", "ResourceRecordSet": {"Name": "web-1.shop.acme.example", "Type": "A", "TTL": 60,
                                               "ResourceRecords": [{"Value": "192.0.2.66"}]}},
    {"Action": "UPSERT", "ResourceRecordSet": {"Name": "status.shop.acme.example", "Type": "CNAME", "TTL": 300,
                                               "ResourceRecords": [{"Value": "status.example.net"}]}}]})
print("pointed web-1.shop.acme.example at 192.0.2.66, and added status.shop.acme.example by hand "
      "(the controller leaves that one alone)")
