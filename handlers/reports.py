from models import reports, serialize


def get_vat_report(caller, period, accept=None):
    report = reports.vat_report(caller.administration_id, period)
    if accept and "text/csv" in accept and "application/json" not in accept:
        return serialize.vat_report_csv(report), 200, {
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="btw-{report.period}.csv"'}
    return serialize.vat_report(report)
