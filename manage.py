#!/usr/bin/env python
import os
import sys

if __name__ == "__main__":
    os.umask(0o077)  # files 0600, folders 0700 from the first write (k2site/env.py private_files)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "k2site.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
