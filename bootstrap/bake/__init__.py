"""Baking golden images: one lifecycle (``lifecycle.py``) over backends that answer primitive calls
(``local.py``: QEMU qcow2; ``ec2.py``: AMIs with boto3; ``gce.py``: images with google-cloud-compute).
Cloud SDKs are imported only inside their backends."""
