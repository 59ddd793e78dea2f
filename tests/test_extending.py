"""docs/extending.md, "Adding a feature, a target, a cloud or a distro": a feature is one module and one template
folder, a target one module and its own templates, a distro one module and its step library, each found
by its registry; nothing else in the package changes. Proven on a temporary copy of the package."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

MODULE = '''"""greeting: a throwaway feature for the extension test."""

from __future__ import annotations

from typing import Any

from ..plan import Phase, Scope, Step
from ..templating import render

KEY = "greeting"
AFTER = frozenset({"packages"})
SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["text"],
    "additionalProperties": False,
    "description": "A line written to /etc/greeting.",
    "examples": [{"text": "hello"}],
    "properties": {"text": {"type": "string", "description": "What to write.", "examples": ["hello"]}},
}


def steps(config: dict[str, Any], context: Any) -> list[Step]:
    body = render("features/greeting/write.sh.j2", text=config["text"])
    return [Step("greeting", Phase.FIRST_BOOT, Scope.IMAGE, KEY, body, "write /etc/greeting")]
'''
TEMPLATE = "write_file /etc/greeting 0644 root:root {{ text | q }}\n"


def copy_of_the_package(folder: Path) -> Path:
    for name in ("bootstrap", "templates", "profiles", "schema"):
        shutil.copytree(REPO / name, folder / name, ignore=shutil.ignore_patterns("__pycache__", "_data"))
    return folder


def run(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(folder), "XDG_CACHE_HOME": str(folder / ".cache")}
    return subprocess.run([sys.executable, "-m", "bootstrap", *args], cwd=folder, env=env, capture_output=True,
                          text=True, timeout=120)  # fmt: skip


def test_a_new_feature_is_one_module_and_one_template_folder(tmp_path: Path) -> None:
    copy = copy_of_the_package(tmp_path / "pkg")
    (copy / "bootstrap" / "features" / "greeting.py").write_text(MODULE)
    (copy / "templates" / "features" / "greeting").mkdir()
    (copy / "templates" / "features" / "greeting" / "write.sh.j2").write_text(TEMPLATE)
    (copy / "p.yaml").write_text('name: p\ngreeting: {text: "hi $(id)"}\n')
    rendered = run(copy, "render", "p.yaml", "--target", "bash")
    assert rendered.returncode == 0, rendered.stderr
    assert "write_file /etc/greeting 0644 root:root 'hi $(id)'" in rendered.stdout  # quoted by the one filter
    assert '"greeting"' in run(copy, "schema").stdout  # in the published schema and so in editors
    misspelt = run(copy, "validate", "p.yaml", "--set", "greting.text=x")
    assert misspelt.returncode == 2 and "did you mean 'greeting'" in misspelt.stderr
    assert "greeting" in run(copy, "explain", "p.yaml").stdout


TARGET_MODULE = '''"""sealbox: a throwaway target for the extension test: a script with a tight limit of its own."""

from __future__ import annotations

from . import _heredoc
from ._record import Gzip, SizeLimit, Target

TARGET = Target(
    name="sealbox-script",  # longer than any built-in target's: the size tables widen
    rank=50,
    carrier=_heredoc.CARRIER,
    template="targets/sealbox.sh.j2",
    instance_id="targets/instance-id/sealbox.sh.j2",
    size=SizeLimit(24_000, "sealbox user data", "error", Gzip.NO, "sealbox",
                   refusal="sealbox takes 24,000 bytes; this is {sizes}"),
    provider="gcp",  # sealbox machines run on Google Cloud: check warns of AWS's services
)
'''
TARGET_TEMPLATE = """{% extends "targets/payload.sh.j2" %}
{% block about %}
# sealbox runs this once per boot.
{% endblock %}
"""
INSTANCE_ID = """  if [ -z "$id" ] && [ -s /run/sealbox/id ]; then
    id=sealbox-$(head -n 1 /run/sealbox/id)
  fi
"""


def test_a_new_target_is_one_module_and_its_templates(tmp_path: Path) -> None:
    copy = copy_of_the_package(tmp_path / "pkg")
    (copy / "bootstrap" / "targets" / "sealbox.py").write_text(TARGET_MODULE)
    (copy / "templates" / "targets" / "sealbox.sh.j2").write_text(TARGET_TEMPLATE)
    (copy / "templates" / "targets" / "instance-id" / "sealbox.sh.j2").write_text(INSTANCE_ID)
    (copy / "p.yaml").write_text("name: p\npackages: [jq]\n")
    (copy / "big.yaml").write_text(f"name: big\nfiles: [{{path: /etc/big, content: '{'x' * 30_000}'}}]\n")
    assert "sealbox-script" in run(copy, "render", "--help").stdout
    rendered = run(copy, "render", "p.yaml", "-t", "sealbox-script")
    assert rendered.returncode == 0, rendered.stderr
    assert "# sealbox runs this once per boot." in rendered.stdout and "/run/sealbox/id" in rendered.stdout
    assert "TARGET=sealbox-script" in rendered.stdout and "Metadata-Flavor" not in rendered.stdout  # its own lookup
    refused = run(copy, "render", "big.yaml", "-t", "sealbox-script")
    assert refused.returncode != 0 and "sealbox takes 24,000 bytes; this is" in refused.stderr
    checked = run(copy, "check", "p.yaml", "big.yaml", "-t", "sealbox-script", "--json")
    reports = {report["profile"]: report for report in json.loads(checked.stdout)}
    assert [b["target"] for b in reports["p"]["budgets"]] == ["sealbox-script"] and reports["p"]["ok"], checked.stdout
    assert reports["big"]["budgets"][0]["sent"] > 24_000 and not reports["big"]["ok"]
    assert any(f["check"] == "size" and "sealbox user data" in f["message"] for f in reports["big"]["findings"])
    (copy / "aws.yaml").write_text('name: aws\nsecrets: [{name: tok, from: "aws-ssm:/x/tok"}]\n')
    warned = run(copy, "check", "aws.yaml", "-t", "sealbox-script", "--json")
    [cloud] = [f for f in json.loads(warned.stdout)[0]["findings"] if f["check"] == "cloud"]
    assert "on Google Cloud (target sealbox-script)" in cloud["message"], warned.stdout
    assert '"sealbox-script"' in run(copy, "explain", "p.yaml", "--json").stdout  # sizes per target
    assert "sealbox-script" in run(copy, "diff", "p.yaml", "big.yaml", "--json").stdout
    table = run(copy, "check", "p.yaml", "-t", "cloud-init", "-t", "sealbox-script").stdout.splitlines()
    row = next(line for line in table if line.startswith("  sealbox-script "))
    assert table[1].index("limit") == row.index("24,000 sealbox user data"), table  # the columns stay aligned


DISTRO_MODULE = '''"""fedora: a throwaway distro for the extension test."""

from __future__ import annotations

from . import Distro, PackageManager

DNF = PackageManager(name="dnf", library="distro/dnf/lib.sh.j2", install="dnf install -y",
                     install_file="rpm -i", installed="rpm -q --quiet", hold="dnf versionlock add",
                     sources_changed=":")
DISTRO = Distro(name="fedora", family="fedora", description="Fedora, with dnf", manager=DNF)
'''
DISTRO_LIBRARY = '{% extends "runner/lib.sh.j2" %}\n'  # dnf needs no helpers of its own


def test_a_new_distro_is_one_module_and_its_step_library(tmp_path: Path) -> None:
    copy = copy_of_the_package(tmp_path / "pkg")
    (copy / "bootstrap" / "distro" / "fedora.py").write_text(DISTRO_MODULE)
    (copy / "templates" / "distro" / "dnf").mkdir()
    (copy / "templates" / "distro" / "dnf" / "lib.sh.j2").write_text(DISTRO_LIBRARY)
    (copy / "p.yaml").write_text("name: p\ndistro: fedora\npackages: [htop, git]\n")
    rendered = run(copy, "render", "p.yaml", "--target", "bash")
    assert rendered.returncode == 0, rendered.stderr
    assert 'dnf install -y "${packages[@]}"' in rendered.stdout and "install 2 dnf packages" in rendered.stdout
    assert "apt" not in rendered.stdout and "DEBIAN_FRONTEND" not in rendered.stdout  # nor in its lib.sh
    assert '"fedora"' in run(copy, "schema").stdout  # a value of distro: in the published schema
    baked = run(copy, "render", "p.yaml", "--target", "bash", "--bake")
    assert baked.returncode == 0 and "BOOTSTRAP-RESULT sealed" in baked.stdout, baked.stderr
    assert "apt" not in baked.stdout  # nor in its seal
    (copy / "q.yaml").write_text("name: q\nextends: [p]\ntimezone: UTC\n")
    default = run(copy, "render", "q.yaml", "--target", "bash", "--set", "distro=debian")
    assert default.returncode == 0 and "apt_install tzdata" in default.stdout, default.stderr
    # A feature installing a package with no name in the fedora family is refused where the profile
    # asks for it, not skipped.
    refused = run(copy, "validate", "q.yaml")
    assert refused.returncode == 2, refused.stderr
    assert "q.yaml:3:11: error: timezone: package tzdata (debian) has no name on distro fedora" in refused.stderr
    assert "Traceback" not in refused.stderr



def test_check_reads_the_distros_own_library(tmp_path: Path) -> None:
    """`check` shellchecks the steps against the lib.sh of the profile's distro, not Debian's: a name
    only the throwaway distro's library sets is unset to a step until that library sets it."""
    copy = copy_of_the_package(tmp_path / "pkg")
    module = DISTRO_MODULE.replace('install="dnf install -y"', "install='dnf install -y \"$dnf_options\"'")
    assert module != DISTRO_MODULE
    (copy / "bootstrap" / "distro" / "fedora.py").write_text(module)
    (copy / "templates" / "distro" / "dnf").mkdir()
    library = copy / "templates" / "distro" / "dnf" / "lib.sh.j2"
    (copy / "p.yaml").write_text("name: p\ndistro: fedora\npackages: [htop]\n")

    def findings() -> list[str]:
        checked = run(copy, "check", "p.yaml", "-t", "bash", "--json")
        [report] = json.loads(checked.stdout)
        return [f["message"] for f in report["findings"] if "dnf_options" in f["message"]]

    library.write_text(DISTRO_LIBRARY)
    assert any("referenced but not assigned" in m for m in findings())  # the step reads it; nothing sets it
    library.write_text(DISTRO_LIBRARY + "{% block settings %}\nexport dnf_options=--setopt=install_weak_deps=False\n"
                       "{% endblock %}\n")  # fmt: skip
    assert findings() == []

CLOUD = '''"""files: a throwaway cloud for the extension test: images are JSON files in a folder."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from ...bake.backend import Backend, Identity, Image, Instance, Source
from .. import Cloud, Context, Option, Values


class FilesBackend(Backend):
    name = "files"
    target = "cloud-init"

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def resolve_source(self, create: bool = True) -> Source:
        return Source("blank", "a blank disk")

    def _all(self) -> list[Image]:
        paths = sorted(self.folder.glob("*.json")) if self.folder.is_dir() else []
        return [Image(p.stem, p.stem, details={"tags": json.loads(p.read_text())}) for p in paths]

    def find_image(self, identity: Identity) -> Image | None:
        return next((i for i in self._all() if identity.tags().items() <= i.details["tags"].items()), None)

    def launch(self, role: str, source: str, user_data: bytes, tags: dict[str, str]) -> Instance:
        return Instance(f"{role}-{time.time_ns()}", role)

    def console(self, instance: Instance) -> str:
        return ""

    def state(self, instance: Instance) -> str:
        return "stopped"

    def create_image(self, instance: Instance, name: str, tags: dict[str, str]) -> Image:
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / f"{name}.json").write_text(json.dumps(tags))
        return Image(name, name, details={"tags": tags})

    def delete_instance(self, instance: Instance) -> None:
        pass

    def delete_image(self, image: Image) -> None:
        (self.folder / f"{image.id}.json").unlink(missing_ok=True)

    def copy_image(self, image: Image, region: str, tags: dict[str, str]) -> Image:
        return image

    def promote(self, image: Image, identity: Identity) -> None:
        pass

    def list_images(self, profile: str) -> list[Image]:
        return [i for i in self._all() if i.details["tags"].get("bootstrap:profile") == profile]

    def reap(self, now: float, dry_run: bool = False, warn: Any = print, pending: Any = None) -> list[str]:
        return []


def build(values: Values, context: Context) -> Any:
    return FilesBackend(Path(values["folder"]))


CLOUD = Cloud("files", (Option(("--folder",), "where the image files go (default ./file-images)",
                               arguments={"default": "file-images"}),), build, summary="JSON files")
'''

EXPORTS = '''"""files: its Terraform fragment (a file holding the GCE startup script, in the template stage)."""

from __future__ import annotations

from ...exports.terraform import Stage, TerraformBuild, TerraformFragment, TerraformPart


def terraform(build: TerraformBuild) -> TerraformFragment:
    key = build.key
    return {Stage.TEMPLATE: TerraformPart(
        variable={f"{key}_files_folder": {"type": "string", "default": "file-images"}, **build.root_disk()},
        resource={"local_file": {key: {"filename": f"${{var.{key}_files_folder}}/{build.profile}.json",
                                       "content": build.channel}}},
        output={f"{key}_file": {"value": f"${{local_file.{key}.filename}}"}},
    )}
'''


def test_a_new_cloud_is_one_folder(tmp_path: Path) -> None:
    copy = copy_of_the_package(tmp_path / "pkg")
    (copy / "bootstrap" / "clouds" / "files").mkdir()
    (copy / "bootstrap" / "clouds" / "files" / "__init__.py").write_text(CLOUD)
    (copy / "bootstrap" / "clouds" / "files" / "exports.py").write_text(EXPORTS)
    (copy / "p.yaml").write_text("name: p\npackages: [jq]\n")
    assert "JSON files" in run(copy, "--help").stdout  # bake's line names what each cloud bakes
    helped = run(copy, "bake", "-b", "files", "--help")
    assert helped.returncode == 0, helped.stderr
    assert "files backend (-b files):\n  --folder FOLDER" in helped.stdout  # its own options, under its name
    assert "--subnet" not in helped.stdout and "--zone" not in helped.stdout  # and no other cloud's
    words = " ".join(helped.stdout.split())  # help wraps its lines
    assert "the files backend shares no images" in words and "EC2" not in words  # nor their --share
    assert "--folder" in run(copy, "reap", "--help").stdout  # every command of its options takes it
    dry = run(copy, "bake", "p.yaml", "-b", "files", "--folder", "out", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would launch a files builder from a blank disk" in dry.stderr
    assert not (copy / "out").exists()  # a dry run makes nothing
    listed = run(copy, "images", "list", "p", "-b", "files", "--folder", "out")
    assert listed.returncode == 0 and "no images made by bootstrap yet (files" in listed.stdout, listed.stderr
    # Its Terraform fragment joins the others' in the one document, in the registry's order (by name); the
    # root disk it declares as the others do is declared once; the Packer export has no source of it.
    exported = run(copy, "export", "terraform", "p.yaml", "-o", "tf")
    assert exported.returncode == 0, exported.stderr
    document = json.loads((copy / "tf" / "p.tf.json").read_text())
    assert list(document["resource"]) == ["aws_launch_template", "local_file", "google_compute_instance_template"]
    assert document["resource"]["local_file"]["p"]["content"] == "${var.p_channel}"
    variables = list(document["variable"])
    assert variables.index("p_aws_root_device") < variables.index("p_root_disk_gb") < variables.index(
        "p_files_folder") < variables.index("p_gcp_project")  # fmt: skip
    assert list(document["output"]) == ["p_launch_template_id", "p_file", "p_instance_template"]
    assert run(copy, "export", "packer", "p.yaml", "-o", "pkr").returncode == 0
