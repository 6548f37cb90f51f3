"""Make the checkout importable as ansible_collections.drover.libvirt (via build/, see Makefile)."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LINK = os.path.join(ROOT, "build", "ansible_collections", "drover", "libvirt")
if not os.path.exists(LINK):
    os.makedirs(os.path.dirname(LINK), exist_ok=True)
    os.symlink("../../..", LINK)
sys.path.insert(0, os.path.join(ROOT, "build"))
