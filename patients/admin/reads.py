"""Every admin page that shows patients' data logs the read (DESIGN §7)."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db import transaction

from patients import audit


class PatientReadsLogged(admin.ModelAdmin):
    """Every admin page that shows patients' data logs the read in the same transaction (DESIGN §7).

    The page is rendered inside the transaction too (inlines read at render time), so no page goes out
    without its log row.
    """

    read_what = "patient"

    def patient_id_of(self, obj) -> int:
        return obj.patient_id

    def change_view(self, request, object_id, form_url="", extra_context=None):
        with transaction.atomic():
            response = super().change_view(request, object_id, form_url, extra_context)
            original = (getattr(response, "context_data", None) or {}).get("original")
            if original is not None:
                audit.log_admin_read(request, self.patient_id_of(original), what=f"admin:{self.read_what}-change")
                response.render()
            return response

    def changelist_view(self, request, extra_context=None):
        with transaction.atomic():
            response = super().changelist_view(request, extra_context)
            changelist = (getattr(response, "context_data", None) or {}).get("cl")
            if changelist is not None:
                audit.access_log_record(
                    actor=request.user,
                    patient_ids=[self.patient_id_of(row) for row in changelist.result_list],
                    what=f"admin:{self.read_what}-list",
                )
                response.render()
            return response

    def logged_object_read(self, view, what: str):
        """``view(request, object_id, ...)`` as a read of its object's patient: a 2xx GET logs it in its transaction."""

        def logged(request, object_id, *args, **kwargs):
            with transaction.atomic():
                response = view(request, object_id, *args, **kwargs)
                if request.method in ("GET", "HEAD") and 200 <= response.status_code < 300:
                    obj = self.get_object(request, unquote(object_id))
                    if obj is None:  # fail closed (DESIGN §10): a page of patient data not attributed is not served
                        raise PermissionDenied
                    audit.log_admin_read(request, self.patient_id_of(obj), what=f"admin:{self.read_what}-{what}")
                    if hasattr(response, "render"):
                        response.render()
                return response

        return logged

    def history_view(self, request, object_id, extra_context=None):
        view = super().history_view
        return self.logged_object_read(lambda r, o: view(r, o, extra_context), "history")(request, object_id)

    def delete_view(self, request, object_id, extra_context=None):
        view = super().delete_view
        return self.logged_object_read(lambda r, o: view(r, o, extra_context), "delete")(request, object_id)
