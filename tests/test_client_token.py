"""ClientToken: a retried create sends the same token; a replacement never does."""

from controller.graph import Node, Ref
from controller.kinds.base import client_token


def vm(subnet: str = "acme/web/PrivateNetwork/a") -> Node:
    return Node(id="acme/web/VirtualMachine/vm-1", kind="VirtualMachine", address="acme/web/VirtualMachine/vm-1",
                enterprise="acme", region="us-east-1", props={"subnet": Ref(subnet), "instanceType": "t3.micro"})


def test_a_retried_create_sends_the_same_token():
    assert client_token(vm(), {"subnet": "subnet-1"}) == client_token(vm(), {"subnet": "subnet-1"})
    assert len(client_token(vm(), {"subnet": "subnet-1"})) <= 64


def test_a_replacement_in_a_replaced_network_gets_a_new_token():
    # same document, same references: only the AWS id of the (replaced) subnet differs
    assert client_token(vm(), {"subnet": "subnet-1"}) != client_token(vm(), {"subnet": "subnet-2"})


def test_a_changed_document_gets_a_new_token():
    assert client_token(vm(), {"subnet": "subnet-1"}) != client_token(vm("acme/web/PrivateNetwork/b"),
                                                                     {"subnet": "subnet-1"})
