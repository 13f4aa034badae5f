"""Coming from Terraform: the guide's module blocks convert into configs that synthesize; computed values, removed
variables, meta-arguments and broken files are reported, not guessed."""

from __future__ import annotations

import yaml
import pytest

from portkey_gateway import settings_from_dict
from portkey_gateway.migrate import MigrationError, convert, main, render

from .conftest import ROOT, synthesize

FIXTURES = ROOT / "tests" / "fixtures" / "terraform"
# The guide's placeholders, and values a user would put there.
PLACEHOLDERS = {
    "<DockerCredentialsSecretArn>": "arn:aws:secretsmanager:us-east-1:123456789012:secret:portkey-gateway/dev/docker-credentials",
    "<ClientOrgSecretNameArn>": "arn:aws:secretsmanager:us-east-1:123456789012:secret:portkey-gateway/dev/client-org",
    "<your-logs-bucket>": "portkey-gateway-dev-logs",
    "<dev-logs-bucket>": "portkey-gateway-dev-logs",
    "<X.X.X.X/Y>": "10.0.0.0/16",
    "certificate/xxxxxxxx": "certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789",
}


def filled(name: str) -> str:
    text = (FIXTURES / f"{name}.tf").read_text()
    for placeholder, value in PLACEHOLDERS.items():
        text = text.replace(placeholder, value)
    return text


@pytest.mark.parametrize("name", ["quick_start", "minimal_dev", "production", "gateway_mcp"])
def test_the_guides_module_blocks_convert_and_only_their_placeholders_need_attention(name):
    conversion = convert((FIXTURES / f"{name}.tf").read_text(), source=f"{name}.tf")
    assert conversion.attention and all(item.startswith("not valid yet: ") for item in conversion.attention)
    assert all("<" in item or "xxxxxxxx" in item for item in conversion.attention), conversion.attention
    assert conversion.ignored == ["source: where Terraform downloads the module; this project is the replacement"]
    complete = convert(filled(name), source=f"{name}.tf")
    assert complete.complete, complete.attention
    settings_from_dict(complete.config)


@pytest.mark.parametrize("name", ["quick_start", "production", "gateway_mcp"])
def test_converted_guide_examples_synthesize(name):
    config = convert(filled(name)).config
    template, _ = synthesize(f"migrated-{name}", config)
    assert any(r["Type"] == "AWS::ECS::Service" for r in template["Resources"].values())


def test_values_map_one_to_one():
    config = convert(filled("production")).config
    assert (config["num_az"], config["single_nat_gateway"], config["instance_type"]) == (3, False, "t4g.large")
    assert config["redis_configuration"] == {"redis_type": "aws-elastic-cache", "cpu": 256, "memory": 512,
                                             "endpoint": "prod-redis.xxxxx.cache.amazonaws.com:6379", "tls": True,
                                             "mode": "cluster"}
    assert config["secrets"]["data-service"]["REDIS_PASSWORD"].endswith("portkey-gateway/prod/redis-auth")
    assert config["gateway_deployment_configuration"] == {"enable_blue_green": True}
    assert config["allowed_lb_cidrs"] == ["10.0.0.0/16"]


COMPUTED = '''
module "portkey" {
  source          = "git::https://github.com/Portkey-AI/portkey-gateway-infrastructure//terraform/ecs?ref=v3.0.0"
  providers       = { aws = aws.prod }
  project_name    = "portkey"
  environment     = var.environment
  aws_region      = "us-east-1"
  create_new_vpc  = false
  vpc_id          = module.network.vpc_id
  private_subnet_ids = ["subnet-0123456789abcdef0", module.network.other_subnet]
  docker_cred_secret_arn = aws_secretsmanager_secret.docker.arn
  redis_type      = "redis"
  redis_cpu       = 512
  object_storage  = {
    log_store_bucket = "${local.prefix}-logs"
    bucket_region    = "us-east-1"
  }
  gateway_deployment_configuration = null
}
'''


def test_computed_values_are_reported_with_their_line_and_the_rest_is_kept():
    conversion = convert(COMPUTED, source="main.tf")
    computed = [item for item in conversion.attention if "computed by Terraform" in item]
    assert computed == [
        "line 6: environment = ${var.environment} is computed by Terraform; write its value into the config",
        "line 9: vpc_id = ${module.network.vpc_id} is computed by Terraform; write its value into the config",
        "line 10: private_subnet_ids[1] = ${module.network.other_subnet} is computed by Terraform; write its value into the config",
        "line 11: docker_cred_secret_arn = ${aws_secretsmanager_secret.docker.arn} is computed by Terraform; write its value "
        "into the config",
        "line 15: object_storage.log_store_bucket = ${local.prefix}-logs is computed by Terraform; write its value into "
        "the config",
    ]
    # removed variables map to their replacements; null means "the default"; meta-arguments are listed
    assert conversion.config["redis_configuration"] == {"redis_type": "redis", "cpu": 512}
    assert "gateway_deployment_configuration" not in conversion.config
    assert [item.split(":")[0] for item in conversion.ignored] == ["source", "providers"]
    assert conversion.config["project_name"] == "portkey" and not conversion.complete
    text = render(conversion, "main.tf")
    assert "# Needs attention:" in text and "#   line 9: vpc_id" in text
    assert yaml.safe_load(text)["redis_configuration"]["cpu"] == 512


def test_tfvars_files_convert_too():
    tfvars = (FIXTURES / "minimal_dev.tf").read_text().split("{", 1)[1].rsplit("}", 1)[0]  # the block's body
    for placeholder, value in PLACEHOLDERS.items():
        tfvars = tfvars.replace(placeholder, value)
    conversion = convert(tfvars, source="dev.tfvars")
    assert conversion.complete, conversion.attention
    assert conversion.config["gateway_config"]["cpu"] == 256 and conversion.ignored == ["source: where Terraform "
                                                                                         "downloads the module; this "
                                                                                         "project is the replacement"]


def test_command_line_exit_status_and_output(tmp_path, capsys):
    good = tmp_path / "main.tf"
    good.write_text(filled("minimal_dev"))
    out = tmp_path / "dev.yaml"
    assert main([str(good), "-o", str(out)]) == 0
    assert yaml.safe_load(out.read_text())["environment"] == "dev"
    assert main([str(FIXTURES / "minimal_dev.tf")]) == 1  # placeholders: needs attention
    assert "attention: not valid yet: docker_cred_secret_arn" in capsys.readouterr().err


@pytest.mark.parametrize("text,message", [
    ('resource "aws_s3_bucket" "logs" {\n  bucket = "x"\n}\n', "no module block whose source is"),
    ('module "other" {\n  source = "terraform-aws-modules/vpc/aws"\n}\n', "no module block whose source is"),
    ('module "portkey" {\n  source = \n', "cannot parse as HCL"),
    ("", "no settings found"),
])
def test_files_that_cannot_be_converted_exit_2_with_one_line(tmp_path, capsys, text, message):
    path = tmp_path / "main.tf"
    path.write_text(text)
    assert main([str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}: ") and message in err and "Traceback" not in err
    with pytest.raises(MigrationError):
        convert(text)


TRICKY = '''
module "portkey" {
  source   = "git::https://github.com/Portkey-AI/portkey-gateway-infrastructure.git//terraform/ecs?ref=v3.0.0"
  for_each = toset(["dev", "prod"])
  aws_profile = "prod"
  redis_type = "aws-elastic-cache"
  redis_configuration = { redis_type = "redis" }
  environment_variables_file_path = "envs/env.json"
  environment_variables = {
    gateway = {
      LITERAL  = "cost: $${price} and %%{x}"
      TEMPLATE = "%{ if true }x%{ endif }"
      CONFIG   = <<-EOT
        {"a": 1}
      EOT
      SECRET_REF = <<EOT
${var.name}
more
EOT
    }
  }
}
'''


def test_tricky_terraform_is_converted_or_reported_never_guessed(tmp_path):
    conversion = convert(TRICKY, source="main.tf", base_dir=tmp_path)
    gateway = conversion.config["environment_variables"]["gateway"]
    assert gateway == {"LITERAL": "cost: ${price} and %{x}", "CONFIG": '{"a": 1}'}  # escapes undone, heredoc dedented
    attention = " | ".join(conversion.attention)
    assert "line 4: for_each makes the block several deployments" in attention
    assert "TEMPLATE = %{ if true }x%{ endif } is computed by Terraform" in attention
    assert "SECRET_REF = ${var.name} more is computed by Terraform" in attention  # one line, even from a heredoc
    assert "environment_variables_file_path: Terraform read it relative to the module's directory" in attention
    ignored = " | ".join(conversion.ignored)
    assert "aws_profile: not a variable of the module (line 5)" in ignored
    assert "redis_type: removed in v2.0.1 and without effect beside redis_configuration (line 6)" in ignored
    assert conversion.config["redis_configuration"] == {"redis_type": "redis"}  # not switched by the old variable
    rendered = render(conversion, "main.tf")
    assert yaml.safe_load(rendered)["environment_variables"]["gateway"]["CONFIG"] == '{"a": 1}'


def test_an_unwritable_output_is_one_line(tmp_path, capsys):
    path = tmp_path / "main.tf"
    path.write_text(filled("minimal_dev"))
    assert main([str(path), "-o", str(tmp_path / "missing" / "dev.yaml")]) == 2
    assert capsys.readouterr().err.startswith(f"error: {tmp_path / 'missing' / 'dev.yaml'}: cannot write")
