"""Who this process is in lock notes and tables: host name and pid.

K2_HOST_NAME overrides the host name, so that two pools of workers on one
machine can play two hosts (their notes must not judge each other's pids).
"""
import os
import socket

from django.conf import settings

__all__ = ("host_name",)


def host_name():
    return getattr(settings, "K2_HOST_NAME", None) or os.environ.get("K2_HOST_NAME") or socket.gethostname()
