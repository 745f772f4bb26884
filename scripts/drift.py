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
