from django.core.management.base import BaseCommand

from prescriptions.demo import PASSWORD, PATIENTS, STAFF, load_demo


class Command(BaseCommand):
    help = "Load the demo clinic (idempotent): staff, five patients in five zones, their plans."

    def handle(self, *args, **options) -> None:
        for line in load_demo():
            self.stdout.write("  " + line)
        logins = ["admin (superuser)", *(f"{u} ({role})" for u, role, *_ in STAFF)]
        portal = [f"{p.portal[0]} ({p.portal[1]} of {p.first_name})" for p in PATIENTS if p.portal]
        self.stdout.write(self.style.SUCCESS("\nLimber demo clinic ready."))
        self.stdout.write("  Admin:     http://127.0.0.1:8000/admin/")
        self.stdout.write(f"  Staff:     {', '.join(logins)}")
        self.stdout.write("  Portal:    http://127.0.0.1:8000/portal/")
        self.stdout.write(f"  Patients:  {', '.join(portal)}")
        self.stdout.write(f"  Password:  {PASSWORD}  (demo only)")
