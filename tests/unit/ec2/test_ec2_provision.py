"""playbooks/provision_ec2.yml against a local EC2 API: safe defaults, idempotence, preflight."""

from __future__ import annotations

import pytest
from ec2_emulator import ENVIRONMENT, HOSTS, SSH_CIDRS, fleet_vars, provision, tags

WORLD = {"0.0.0.0/0", "::/0"}
APP_PORTS = {15000, 80, 443}
LB_ONLY = "The app port is opened only to a load balancer's security groups or networks"
LB_ENVIRONMENT = "citestlb"
LB_CIDRS = ["10.42.8.0/24", "10.42.9.0/24"]


def test_first_run_creates_and_second_run_changes_nothing(provisioned):
    first, second = provisioned
    assert first.rc == 0, first.output[-3000:]
    assert first.recap()["changed"] > 0
    assert second.rc == 0, second.output[-3000:]
    recap = second.recap()
    assert (recap["changed"], recap["unreachable"], recap["failed"]) == (0, 0, 0)


def test_one_running_instance_per_host(instances):
    running = [i for i in instances if i["State"]["Name"] == "running"]
    assert sorted(tags(i)["Name"] for i in running) == sorted(h["name"] for h in HOSTS)
    assert len(instances) == len(HOSTS)


def test_imdsv2_required_with_hop_limit_1(instances):
    for instance in instances:
        options = instance["MetadataOptions"]
        assert options["HttpTokens"] == "required", tags(instance)["Name"]
        assert options["HttpPutResponseHopLimit"] == 1, tags(instance)["Name"]
        assert options["HttpEndpoint"] == "enabled"


def test_no_public_address_by_default(instances):
    assert [i.get("PublicIpAddress") for i in instances] == [None] * len(instances)


def test_every_volume_is_encrypted_and_docker_data_has_its_own(ec2, instances):
    for instance in instances:
        mappings = {m["DeviceName"]: m["Ebs"]["VolumeId"] for m in instance["BlockDeviceMappings"]}
        assert "/dev/xvdf" in mappings, mappings
        assert instance["RootDeviceName"] in mappings
        volumes = ec2.describe_volumes(VolumeIds=list(mappings.values()))["Volumes"]
        assert [v["VolumeId"] for v in volumes if not v["Encrypted"]] == []
        data = next(v for v in volumes if v["VolumeId"] == mappings["/dev/xvdf"])
        assert data["Size"] == 30
        assert data["VolumeType"] == "gp3"


def test_tags_the_inventory_groups_by(instances):
    roles = {h["name"]: h.get("role", "docker-host") for h in HOSTS}
    for instance in instances:
        tag = tags(instance)
        assert tag["Role"] == roles[tag["Name"]]
        assert tag["Environment"] == ENVIRONMENT
        assert tag["DockerDataDevice"] == "/dev/xvdf"
        assert tag["ManagedBy"] == "dockhard"


def security_groups(ec2, instances) -> list[dict]:
    ids = {g["GroupId"] for i in instances for g in i["SecurityGroups"]}
    return ec2.describe_security_groups(GroupIds=sorted(ids))["SecurityGroups"]


def sources(rule: dict) -> set[str]:
    return {r["CidrIp"] for r in rule.get("IpRanges", [])} | {
        r["CidrIpv6"] for r in rule.get("Ipv6Ranges", [])
    }


def test_only_the_dockhard_group_is_attached(ec2, instances):
    groups = security_groups(ec2, instances)
    assert [g["GroupName"] for g in groups] == [f"dockhard-{ENVIRONMENT}-docker-hosts"]


def test_no_rule_opens_an_app_port_to_the_world(ec2, instances):
    for group in security_groups(ec2, instances):
        for rule in group["IpPermissions"]:
            low, high = rule.get("FromPort", 0), rule.get("ToPort", 65535)
            exposed = {p for p in APP_PORTS if low <= p <= high} or rule["IpProtocol"] == "-1"
            assert not (exposed and sources(rule) & WORLD), rule


def test_ssh_only_from_the_configured_cidrs(ec2, instances):
    (group,) = security_groups(ec2, instances)
    ingress = group["IpPermissions"]
    assert [(r["IpProtocol"], r["FromPort"], r["ToPort"]) for r in ingress] == [("tcp", 22, 22)]
    assert sources(ingress[0]) == set(SSH_CIDRS)
    assert ingress[0]["UserIdGroupPairs"] == []


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"ec2_provision_ssh_cidrs": ["0.0.0.0/0"]}, "SSH is never open to the whole internet"),
        (
            {"ec2_provision_app_ingress": [{"port": 15000, "cidr": "::/0"}]},
            "No private port is opened to the whole internet",
        ),
        ({"ec2_provision_ssh_cidrs": ["10.0.0.0"]}, "Every CIDR is an IPv4 or IPv6 network"),
        ({"ec2_provision_hosts": [{"name": "x", "role": "web"}]}, "Validating arguments"),
        ({"ec2_provision_app_source_cidrs": ["0.0.0.0/0"]}, LB_ONLY),
        ({"ec2_provision_app_source_cidrs": ["::/0"]}, LB_ONLY),
        ({"ec2_provision_app_source_groups": ["vpc-0123abcd"]}, LB_ONLY),
        ({"ec2_provision_app_port": 22}, LB_ONLY),
        (
            {"ec2_provision_app_source_cidrs": ["10.0.0.0/33x"]},
            "Every CIDR is an IPv4 or IPv6 network",
        ),
    ],
    ids=[
        "world-ssh",
        "world-app-port",
        "not-a-cidr",
        "unknown-role",
        "world-lb-v4",
        "world-lb-v6",
        "lb-not-a-group",
        "lb-ssh-port",
        "lb-not-a-cidr",
    ],
)
def test_a_wrong_variable_fails_before_anything_is_created(
    ec2, aws_env, network, tmp_path, provisioned, overrides, message
):
    before = ec2.describe_security_groups()["SecurityGroups"], ec2.describe_instances()
    values = fleet_vars(network, ec2_provision_environment="refused", **overrides)
    refused = provision(aws_env, tmp_path, values)
    assert refused.rc != 0
    assert refused.recap()["failed"] == 1
    assert message in refused.output
    after = ec2.describe_security_groups()["SecurityGroups"], ec2.describe_instances()
    assert len(after[0]) == len(before[0])
    assert sum(len(r["Instances"]) for r in after[1]["Reservations"]) == sum(
        len(r["Instances"]) for r in before[1]["Reservations"]
    )


@pytest.fixture(scope="module")
def drifted(ec2, aws_env, network, tmp_path_factory, instances):
    """Someone loosens the metadata options and opens the app port to the world; rerun."""
    victim = instances[0]["InstanceId"]
    # Every field is given: AWS keeps the ones a call leaves out, moto forgets them.
    ec2.modify_instance_metadata_options(
        InstanceId=victim,
        HttpTokens="optional",
        HttpPutResponseHopLimit=2,
        HttpEndpoint="enabled",
        HttpProtocolIpv6="disabled",
        InstanceMetadataTags="disabled",
    )
    group = instances[0]["SecurityGroups"][0]["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 15000,
                "ToPort": 15000,
                "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
            }
        ],
    )
    rerun = provision(aws_env, tmp_path_factory.mktemp("drift"), fleet_vars(network))
    return victim, group, rerun


def test_a_rerun_puts_back_what_drifted(ec2, drifted):
    victim, group, rerun = drifted
    assert rerun.rc == 0, rerun.output[-3000:]
    assert rerun.recap()["changed"] == 2  # the security group and the one drifted instance
    (instance,) = ec2.describe_instances(InstanceIds=[victim])["Reservations"][0]["Instances"]
    assert instance["MetadataOptions"]["HttpTokens"] == "required"
    assert instance["MetadataOptions"]["HttpPutResponseHopLimit"] == 1
    (sg,) = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"]
    assert [r["FromPort"] for r in sg["IpPermissions"]] == [22]


@pytest.fixture(scope="module")
def behind_lb(ec2, aws_env, network, tmp_path_factory):
    """Hosts of their own environment whose app port is open to a load balancer only."""
    alb = ec2.create_security_group(
        GroupName="dh-ci-alb", Description="the load balancer", VpcId=network["vpc"]
    )["GroupId"]
    values = fleet_vars(
        network,
        ec2_provision_environment=LB_ENVIRONMENT,
        ec2_provision_hosts=[{"name": "dh-ci-lb-1", "role": "app-host"}],
        ec2_provision_app_source_groups=[alb],
        ec2_provision_app_source_cidrs=LB_CIDRS,
    )
    tmp = tmp_path_factory.mktemp("lb")
    first, second = provision(aws_env, tmp, values), provision(aws_env, tmp, values)
    (group,) = ec2.describe_security_groups(
        Filters=[{"Name": "group-name", "Values": [f"dockhard-{LB_ENVIRONMENT}-docker-hosts"]}]
    )["SecurityGroups"]
    return alb, group, first, second


def test_app_port_open_only_to_the_load_balancer(behind_lb):
    alb, group, first, second = behind_lb
    assert first.rc == 0, first.output[-3000:]
    assert second.rc == 0, second.output[-3000:]
    assert second.recap()["changed"] == 0
    by_port = {r["FromPort"]: r for r in group["IpPermissions"]}
    assert sorted(by_port) == [22, 443]
    app = by_port[443]
    assert (app["IpProtocol"], app["ToPort"]) == ("tcp", 443)
    assert [pair["GroupId"] for pair in app["UserIdGroupPairs"]] == [alb]
    assert sources(app) == set(LB_CIDRS)
    assert sources(by_port[22]) == set(SSH_CIDRS)
