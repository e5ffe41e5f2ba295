// CSV import: the file is checked first (a dry run that lists every rejected row and why),
// and imported only when every row is valid, in one transaction on the server.
import { useState, type ChangeEvent } from 'react';
import { useMutation } from 'urql';
import { errorSummary } from '../../api/errors';
import { ImportAttendeesMutation } from '../../api/operations';
import type { ImportAttendeesMutation as ImportResult } from '../../gql/graphql';
import { Alert, ColumnHeadings } from '../../components/ui';
import { plural } from '../../lib/format';

type Report = ImportResult['importAttendees'];

function readText(file: Blob): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => reject(reader.error);
    reader.readAsText(file);
  });
}

export function summary(report: Report): string {
  const parts = [
    plural(report.created, 'new attendee'),
    plural(report.updated, 'update'),
    `${report.unchanged.toLocaleString('en-US')} unchanged`,
  ];
  return `${plural(report.rows, 'row')}: ${parts.join(', ')}`;
}

export function AttendeeImport({ conferenceId, onImported }: { conferenceId: string; onImported(): void }) {
  const [csv, setCsv] = useState<string | null>(null);
  const [fileName, setFileName] = useState('');
  const [report, setReport] = useState<Report | null>(null);
  const [result, run] = useMutation(ImportAttendeesMutation);
  const [error, setError] = useState<string | null>(null);

  const onFile = async (event: ChangeEvent<HTMLInputElement>) => {
    const file = event.target.files?.[0];
    setReport(null);
    setError(null);
    if (!file) return setCsv(null);
    setFileName(file.name);
    try {
      setCsv(await readText(file));
    } catch {
      setError('The file could not be read.');
    }
  };

  const submit = async (dryRun: boolean) => {
    if (csv === null) return;
    setError(null);
    const response = await run({ conferenceId, csv, dryRun });
    const answer = response.data?.importAttendees;
    if (!answer) {
      setError(errorSummary(response.error));
      return;
    }
    setReport(answer);
    if (answer.applied) onImported();
  };

  const changes = report ? report.created + report.updated : 0;
  return (
    <section className="card import" aria-labelledby="import-heading">
      <h2 id="import-heading">Import attendees from CSV</h2>
      <p className="muted small">
        Columns as in the export (first_name, last_name, email, job_position, company, city, state, interests,
        comments). Rows are matched by email: new ones are added, known ones updated. Nothing is written until every
        row is valid, and imported attendees get no confirmation email.
      </p>
      <div className="field">
        <label htmlFor="import-file">CSV file</label>
        <input id="import-file" type="file" accept=".csv,text/csv" onChange={onFile} />
      </div>
      <div className="actions">
        <button
          type="button"
          className="button button--secondary"
          disabled={csv === null || result.fetching}
          onClick={() => submit(true)}
        >
          {result.fetching && !report ? 'Checking…' : 'Check file'}
        </button>
      </div>
      {error && <Alert title="The file could not be checked">{error}</Alert>}
      <div role="status" data-testid="import-report">
        {report && report.applied && (
          <Alert kind="success" title="Imported">
            {fileName}: {summary(report)}.
          </Alert>
        )}
        {report && !report.applied && report.rejected.length === 0 && (
          <Alert kind="info" title="Ready to import">
            {fileName}: {summary(report)}.
          </Alert>
        )}
        {report && report.rejected.length > 0 && (
          <Alert kind="warning" title={`${plural(report.rejected.length, 'row')} rejected: nothing was imported`}>
            Fix these rows and check the file again.
          </Alert>
        )}
      </div>
      {report && report.rejected.length > 0 && (
        <div className="table-wrap">
          <table className="table table--stack" data-testid="import-rejections">
            <caption className="visually-hidden">Rejected rows</caption>
            <ColumnHeadings labels={['Line', 'Email', 'Field', 'Problem']} />
            <tbody>
              {report.rejected.map((r) => (
                <tr key={`${r.line}-${r.field}`}>
                  <td data-label="Line">{r.line}</td>
                  <td data-label="Email" className="wrap-anywhere">
                    {r.email ?? '—'}
                  </td>
                  <td data-label="Field">{r.field}</td>
                  <td data-label="Problem">{r.message}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {report && !report.applied && report.rejected.length === 0 && changes > 0 && (
        <div className="actions">
          <button type="button" className="button button--primary" disabled={result.fetching} onClick={() => submit(false)}>
            {result.fetching ? 'Importing…' : `Import ${plural(changes, 'change')}`}
          </button>
        </div>
      )}
    </section>
  );
}
