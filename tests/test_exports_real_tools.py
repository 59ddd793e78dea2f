"""The exports checked by the real tools a team runs them with: Debian's packer (1.6.6) validates
and formats every built-in profile's template, and every Terraform attribute we write is one the
providers declare, read from the provider packages published on npm (@cdktf/provider-aws and
@cdktf/provider-google, generated from the providers' own schemas; tests/run fetches them), not
from a hand-kept list."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from bootstrap.cli import main

REPO = Path(__file__).resolve().parent.parent
PROFILES = sorted(p.stem for p in (REPO / "profiles").glob("*.yaml"))
PROVIDERS = REPO / "tests" / "data" / "providers"  # filled by tests/run (npm pack), not in git
META_ARGUMENTS = {"count", "for_each", "depends_on", "provider", "lifecycle"}

needs_packer = pytest.mark.skipif(shutil.which("packer") is None, reason="packer is not installed "
                                  "(tests/run installs Debian's)")  # fmt: skip


def packer_1_6_copy(template: str) -> str:
    """The template as packer 1.6.6 reads it: without the `packer { required_plugins }` block (1.7+)
    and the amazon-ebs `metadata_options` block (plugin 1.0+). The real template keeps both."""
    template = re.sub(r"^packer \{\n.*?^\}\n", "", template, flags=re.M | re.S)
    return re.sub(r"^  metadata_options \{\n.*?^  \}\n", "", template, flags=re.M | re.S)


@needs_packer
@pytest.mark.parametrize("profile", PROFILES)
def test_packer_validates_and_formats_the_template(profile: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["export", "packer", profile, "-o", str(out)]) == 0
    template = out / f"{profile}.pkr.hcl"
    formatted = subprocess.run(["packer", "fmt", "-check", "-diff", str(template)], capture_output=True, text=True)
    assert formatted.returncode == 0, formatted.stdout + formatted.stderr
    compat = tmp_path / "compat"
    shutil.copytree(out, compat)
    (compat / template.name).write_text(packer_1_6_copy(template.read_text()))
    validated = subprocess.run(["packer", "validate", "-var", "gcp_project_id=team", "."], cwd=compat,
                               capture_output=True, text=True)  # fmt: skip
    assert validated.returncode == 0, validated.stdout + validated.stderr


# -- Terraform: attribute names from the providers' published packages ---------------------------


def _blocks(source: str) -> dict[str, dict[str, str]]:
    """Every `xxxToTerraform(struct)` function's returned keys, each with the function that builds
    its value when it is a nested block ("" for a plain attribute)."""
    found = {}
    for match in re.finditer(r"^function (\w+)ToTerraform\(struct\) \{\n(.*?)^\}\n", source, re.M | re.S):
        found[match.group(1)] = _keys(match.group(2).split("return {", 1)[-1])
    return found


def _keys(body: str) -> dict[str, str]:
    keys = {}
    for key, value in re.findall(r"^\s+(\w+): (.*?),?$", body, re.M):
        nested = re.search(r"\b(\w+)ToTerraform\b", value)
        simple = re.search(r"cdktf\.(string|number|boolean|hash|list)\w*ToTerraform", value)
        keys[key] = nested.group(1) if nested and not simple else ""
    return keys


def _folder(kind: str) -> tuple[str, str]:
    """(provider, folder in its package) of a type: aws_launch_template -> (aws, launch-template),
    data.google_compute_image -> (google, data-google-compute-image)."""
    bare = kind.removeprefix("data.")
    provider, _, name = bare.partition("_")
    return provider, ("data-" + bare if kind.startswith("data.") else name).replace("_", "-")


def exported_documents(folder: Path) -> list[dict]:
    """The Terraform export of every built-in profile, and of one with secrets, buckets, a GPU and data
    disks on both clouds."""
    from .test_exports import EVERYTHING

    (folder / "ml-box.yaml").write_text(EVERYTHING)
    documents = []
    for reference in [*PROFILES, str(folder / "ml-box.yaml")]:
        out = folder / Path(reference).stem
        assert main(["export", "terraform", reference, "-o", str(out)]) == 0
        documents += [json.loads(path.read_text()) for path in out.glob("*.tf.json")]
    return documents


@pytest.fixture(scope="module")
def documents(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    return exported_documents(tmp_path_factory.mktemp("terraform"))


@pytest.fixture(scope="module")
def provider_sources(documents: list[dict]) -> dict[tuple[str, str], str]:
    """The generated source of each resource type the exports use, read in one pass per package."""
    import tarfile

    sections = (("resource", ""), ("data", "data."))
    wanted = {_folder(prefix + kind) for document in documents for section, prefix in sections
              for kind in document.get(section, {})}  # fmt: skip
    sources = {}
    for provider in sorted({provider for provider, _ in wanted}):
        [package] = sorted(PROVIDERS.glob(f"cdktf-provider-{provider}-*.tgz")) or [None]
        if package is None:
            pytest.skip(f"no @cdktf/provider-{provider} package under {PROVIDERS} (tests/run fetches it with npm)")
        names = {f"package/lib/{folder}/index.js": folder for p, folder in wanted if p == provider}
        with tarfile.open(package) as archive:
            for member in archive:
                if member.name in names:
                    handle = archive.extractfile(member)
                    assert handle is not None
                    sources[(provider, names[member.name])] = handle.read().decode()
    missing = sorted(wanted - sources.keys())
    assert missing == [], f"types the exports use that the providers do not declare: {missing}"
    return sources


def unknown_keys(value: object, keys: dict[str, str], blocks: dict[str, dict[str, str]], where: str) -> list[str]:
    if isinstance(value, list):
        return [bad for item in value for bad in unknown_keys(item, keys, blocks, where)]
    if not isinstance(value, dict):
        return []
    bad = []
    for key, item in value.items():
        if key not in keys:
            bad.append(f"{where}.{key}")
        elif keys[key]:
            bad += unknown_keys(item, blocks.get(keys[key], {}), blocks, f"{where}.{key}")
    return bad


def test_every_terraform_attribute_is_one_the_provider_declares(
    documents: list[dict], provider_sources: dict[tuple[str, str], str]
) -> None:
    bad = []
    for document in documents:
        for section, prefix in (("resource", ""), ("data", "data.")):
            for kind, named in document.get(section, {}).items():
                source = provider_sources[_folder(prefix + kind)]
                top = source.split("synthesizeAttributes() {", 1)[1].split("return {", 1)[1].split("};", 1)[0]
                keys, blocks = _keys(top), _blocks(source)
                for name, body in named.items():
                    plain = {k: v for k, v in body.items() if k not in META_ARGUMENTS}
                    bad += unknown_keys(plain, keys, blocks, f"{prefix}{kind}.{name}")
    assert bad == []


def test_the_schema_reading_catches_a_misspelt_attribute(provider_sources: dict[tuple[str, str], str]) -> None:
    source = provider_sources[("aws", "launch-template")]
    top = source.split("synthesizeAttributes() {", 1)[1].split("return {", 1)[1].split("};", 1)[0]
    keys, blocks = _keys(top), _blocks(source)
    good = {"image_id": "x", "block_device_mappings": [{"device_name": "/dev/xvda", "ebs": {"volume_size": 8}}]}
    assert unknown_keys(good, keys, blocks, "t") == []
    bad = {"imageid": "x", "block_device_mappings": [{"ebs": {"volume_sise": 8}}]}
    assert unknown_keys(bad, keys, blocks, "t") == ["t.imageid", "t.block_device_mappings.ebs.volume_sise"]
