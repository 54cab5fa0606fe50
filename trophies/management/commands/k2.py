"""`manage.py k2 SUBCOMMAND`: the product's command line.

Each subcommand is a thin wrapper over a service; errors a user can fix end
in one readable line and a non-zero exit (CommandError).
"""
import logging
import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from locks import LockTimeout
from trophies.services import demo, plans
from trophies.services.layers import LayerRejected


log = logging.getLogger(__name__)
BASE_OPTIONS = {"verbosity", "settings", "pythonpath", "traceback", "no_color", "force_color", "skip_checks"}


class Command(BaseCommand):
    help = "K2 Trophy Builder commands: demo, admin, serve, build, status, export, import, prune, locks, health."

    def add_arguments(self, parser):
        parser.add_argument("--debug", action="store_true", help="add debug lines to the log (as K2_DEBUG=1)")
        sub = parser.add_subparsers(dest="subcommand", required=True, metavar="SUBCOMMAND")
        sub.required = True
        p = sub.add_parser("demo", help="create the demo parts and the trophies classic and starter")
        p.add_argument("--layers", metavar="DIR", help="take classic's layers from DIR/SLOT_NN.png files")
        p.add_argument("--reset", action="store_true",
                       help="redraw the demo options' layers (from DIR with --layers) and say which changed")
        sub.add_parser("admin", help="create the staff user admin (password from K2_ADMIN_PASSWORD)")
        sub.add_parser("serve", help="run Redis (unless REDIS_URL is set), the render workers and the web server")
        p = sub.add_parser("build", help="start a build of a trophy")
        p.add_argument("slug")
        p.add_argument("--wait", action="store_true", help="show progress; exit 0 when done, 1 when failed or cancelled")
        p.add_argument("--force", action="store_true", help="start even when the disk looks too small for the build")
        p = sub.add_parser("status", help="print a build's progress")
        p.add_argument("build_id", type=int)
        p.add_argument("--json", action="store_true")
        p = sub.add_parser("export", help="write the catalog (or the named trophies and their parts) to a zip archive")
        p.add_argument("slugs", nargs="*", metavar="SLUG")
        p.add_argument("-o", "--output", required=True, metavar="FILE")
        p = sub.add_parser("import", help="read a catalog archive, all or nothing; --dry-run lists what would change")
        p.add_argument("file", metavar="FILE")
        p.add_argument("--dry-run", action="store_true")
        p = sub.add_parser("prune", help="remove renders no current combination names (and unused layer files), "
                                         "older than K2_PRUNE_AFTER_S")
        p.add_argument("slug", nargs="?", metavar="SLUG")
        p.add_argument("--dry-run", action="store_true")
        sub.add_parser("locks", help="print the locks held now and lock statistics")
        sub.add_parser("health", help="one nagios line on the database, Redis, workers, queue, stalls and disk; "
                                      "exit 0 OK, 1 WARNING, 2 CRITICAL")

    def handle(self, *args, subcommand, debug=False, **options):
        if debug:
            from k2site.logging import enable_debug

            enable_debug()
        log.debug("k2 %s with %s", subcommand, {k: v for k, v in options.items() if k not in BASE_OPTIONS})
        return getattr(self, f"do_{subcommand}")(**options)

    def do_demo(self, layers=None, reset=False, **options):
        try:
            result = demo.create_demo_catalog(layers, reset=reset)
        except (demo.DemoError, LayerRejected, LockTimeout) as error:
            raise CommandError(str(error)) from None
        for trophy in result.trophies:
            self.stdout.write(f"{trophy.slug}: {plans.capture(trophy).describe()}")
        self.stdout.write(f"created {len(result.created)}: {', '.join(result.created)}" if result.created
                          else "created nothing: the demo catalog exists")
        if reset:
            self.stdout.write(f"replaced {len(result.replaced)}: {', '.join(result.replaced)}" if result.replaced
                              else "replaced nothing: every demo layer already had the pictures asked for")
        elif result.kept:
            self.stdout.write(f"{result.kept} existing demo options left as they are "
                              "(k2 demo --reset redraws them)")

    def do_admin(self, **options):
        from axes.utils import reset as reset_lockouts
        from django.contrib.auth.password_validation import validate_password
        from django.core.exceptions import ValidationError

        User = get_user_model()
        password = os.environ.get("K2_ADMIN_PASSWORD")
        user = User.objects.filter(username="admin").first()
        if user and not password:
            self.stdout.write("Staff user admin exists (set K2_ADMIN_PASSWORD to change its password).")
            self._clear_lockout(reset_lockouts)
            return
        shown = password is None
        password = password or secrets.token_urlsafe(16)
        if user is None:
            user = User(username="admin", email="admin@example.com")
        try:
            validate_password(password, user)
        except ValidationError as error:
            raise CommandError(f"K2_ADMIN_PASSWORD refused, nothing changed: {' '.join(error.messages)}") from None
        user.is_staff = user.is_superuser = user.is_active = True
        user.set_password(password)
        user.save()
        self._clear_lockout(reset_lockouts)
        if shown:
            self.stdout.write(self.style.WARNING(f"Staff user admin, password: {password}  (shown once)"))
        else:
            self.stdout.write("Staff user admin, password from K2_ADMIN_PASSWORD.")

    def _clear_lockout(self, reset_lockouts):
        """(Re)creating admin is how staff get back in: clear admin's failed
        logins too (others: manage.py axes_reset_username NAME)."""
        cleared = reset_lockouts(username="admin")
        if cleared:
            self.stdout.write(f"Cleared the failed logins of admin ({cleared} record(s)): admin may log in again.")

    def do_serve(self, **options):
        from k2site.supervisor import Supervisor

        Supervisor(out=self.stdout).run()

    def do_build(self, slug, wait=False, force=False, **options):
        from trophies.cli import build_command

        raise SystemExit(build_command(slug, wait, self.stdout, confirm_disk=force))

    def do_status(self, build_id, json=False, **options):
        from trophies.cli import status_command

        raise SystemExit(status_command(build_id, json, self.stdout))

    def do_export(self, slugs, output, **options):
        from trophies.services import archive

        partial = f"{output}.part"  # a failed export leaves no half archive under the name asked for
        try:
            trophies, option_count = archive.export_catalog(partial, slugs)
            os.replace(partial, output)
        except archive.ArchiveRejected as error:
            raise CommandError(str(error)) from None
        finally:
            if os.path.exists(partial):
                os.unlink(partial)
        self.stdout.write(f"exported {trophies} trophies and {option_count} options to {output}")

    def do_import(self, file, dry_run=False, **options):
        from trophies.services import archive, catalog

        try:
            report = archive.import_catalog(file, dry_run=dry_run)
        except FileNotFoundError:
            raise CommandError(f"{file}: no such file") from None
        except (archive.ArchiveRejected, catalog.TrophyBusy, LayerRejected, LockTimeout) as error:
            raise CommandError(f"{error} Nothing was imported.") from None
        for line in report.lines():
            self.stdout.write(line)

    def do_prune(self, slug=None, dry_run=False, **options):
        from trophies.services import prune

        from trophies.services import disk_usage

        result = prune.prune(slug, dry_run=dry_run)
        if not dry_run:
            for name, _ in prune.trophy_dirs(slug):
                disk_usage.refresh(name)
        for path in result.paths:
            self.stdout.write(("would remove " if dry_run else "removed ") + path)
        for line in result.skipped:
            self.stdout.write(f"skipped {line}")
        self.stdout.write(result.summary())
        if slug is None:
            from trophies.forms import tmpstore

            abandoned = tmpstore.sweep(dry_run=dry_run)
            self.stdout.write(f"{'would remove' if dry_run else 'removed'} {len(abandoned)} upload(s) of forms "
                              f"left more than a day ago")

    def do_locks(self, **options):
        from locks.inspect import snapshot
        from locks.stats import format_text

        self.stdout.write(format_text(snapshot()))

    def do_health(self, **options):
        from trophies.services.health import check_health

        health = check_health()
        self.stdout.write(health.line())
        raise SystemExit(health.status)
