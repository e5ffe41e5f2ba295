// The attendees of a conference: searched and filtered on every column by the server,
// sorted, paged ("26–50 of 728", with a page jump), edited, removed, exported and imported.
import { useEffect, useReducer, useRef, useState, type FormEvent } from 'react';
import { useMutation, useQuery } from 'urql';
import { downloadFile, queryString, DownloadError } from '../../api/download';
import { errorSummary } from '../../api/errors';
import { AttendeesQuery, RemoveAttendeeMutation } from '../../api/operations';
import { useToken, useViewer } from '../../auth/session';
import type { AttendeeSortField } from '../../gql/graphql';
import { SearchField } from '../../components/Field';
import { Alert, Loading, PageHeading } from '../../components/ui';
import { useDebounced, usePageTitle } from '../../hooks/common';
import { useLiveAttendeeCount } from '../../hooks/live';
import { formatDateTime, plural } from '../../lib/format';
import { registrationFields } from '../../lib/validation';
import { firstPage, pageCount, positionKey, rangeLabel, rowPager } from '../../lib/rowPager';
import { AttendeeEditor, type EditableAttendee } from './AttendeeEditor';
import { AttendeeImport } from './AttendeeImport';

export const ATTENDEES_PAGE_SIZE = 25;

type FilterField = 'firstName' | 'lastName' | 'email' | 'company' | 'jobPosition' | 'city' | 'state';
const filterFields: FilterField[] = ['firstName', 'lastName', 'email', 'company', 'jobPosition', 'city', 'state'];
type Filters = Record<FilterField, string>;
const noFilters: Filters = { firstName: '', lastName: '', email: '', company: '', jobPosition: '', city: '', state: '' };

interface Sort {
  field: AttendeeSortField;
  direction: 'ASC' | 'DESC';
}

const columns: { label: string; sort: AttendeeSortField }[] = [
  { label: 'Name', sort: 'LAST_NAME' },
  { label: 'Email', sort: 'EMAIL' },
  { label: 'Company', sort: 'COMPANY' },
  { label: 'Job position', sort: 'JOB_POSITION' },
  { label: 'City', sort: 'CITY' },
  { label: 'State', sort: 'STATE' },
  { label: 'Registered', sort: 'ADDED' },
];

/** Non-empty trimmed filters, or null. */
function activeFilters(filters: Filters): Partial<Filters> | null {
  const out: Partial<Filters> = {};
  for (const f of filterFields) if (filters[f].trim()) out[f] = filters[f].trim();
  return Object.keys(out).length ? out : null;
}

/** Text that wraps between words, or is cut with the whole value on hover. */
function Cell({ value }: { value: string }) {
  return (
    <span className="cell-text" title={value}>
      {value}
    </span>
  );
}

export function Attendees({ conferenceId }: { conferenceId: string }) {
  usePageTitle('Attendees');
  const [searchText, setSearchText] = useState('');
  const [filterText, setFilterText] = useState<Filters>(noFilters);
  const [sort, setSort] = useState<Sort>({ field: 'ADDED', direction: 'ASC' });
  const search = useDebounced(searchText.trim(), 300);
  const filters = useDebounced(filterText, 300);
  const filter = activeFilters(filters);
  const filterKey = JSON.stringify(filter);
  const [pager, dispatch] = useReducer(rowPager, firstPage);
  const resetKey = `${conferenceId}|${search}|${filterKey}|${sort.field}|${sort.direction}`;
  const lastReset = useRef(resetKey);
  useEffect(() => {
    if (lastReset.current !== resetKey) {
      lastReset.current = resetKey;
      dispatch({ type: 'reset' });
    }
  }, [resetKey]);
  // The start row of every page asked for, so the label matches the rows on screen.
  const starts = useRef(new Map<string, number>());
  starts.current.set(positionKey(pager.current.after, pager.current.offset), pager.current.start);

  const [{ data, fetching, error, operation }, refetch] = useQuery({
    query: AttendeesQuery,
    variables: {
      conferenceId,
      first: ATTENDEES_PAGE_SIZE,
      after: pager.current.after,
      offset: pager.current.offset || null,
      search: search || null,
      filter,
      orderBy: sort,
    },
  });
  const live = useLiveAttendeeCount(conferenceId);
  // The last page the server answered with: kept on screen, marked stale, when a later
  // request fails (the server is away), until Retry or the next answer replaces it.
  type Shown = { conferenceId: string; page: NonNullable<typeof data>['attendees']; vars: unknown };
  const lastShown = useRef<Shown | null>(null);
  if (data?.attendees && operation) lastShown.current = { conferenceId, page: data.attendees, vars: operation.variables };
  const stale = !data?.attendees && error && lastShown.current?.conferenceId === conferenceId ? lastShown.current : null;
  const page = data?.attendees ?? stale?.page;
  const shownVars = (data?.attendees ? operation?.variables : stale?.vars) as
    | { after?: string | null; offset?: number | null; search?: string | null }
    | undefined;
  const shownStart = starts.current.get(positionKey(shownVars?.after, shownVars?.offset)) ?? pager.current.start;
  const shownSearch = shownVars?.search ?? '';
  const loadingOther = fetching && page !== undefined;
  const isAdmin = useIsAdmin();
  const token = useToken();

  const [editing, setEditing] = useState<EditableAttendee | null>(null);
  const [removing, setRemoving] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [actionError, setActionError] = useState<string | null>(null);
  const [importing, setImporting] = useState(false);
  const [, remove] = useMutation(RemoveAttendeeMutation);
  const [jump, setJump] = useState('');

  const reload = () => refetch({ requestPolicy: 'network-only' });
  const pages = page ? pageCount(page.totalCount, ATTENDEES_PAGE_SIZE) : 1;
  const currentPage = Math.floor(shownStart / ATTENDEES_PAGE_SIZE) + 1;

  const toggleSort = (field: AttendeeSortField) =>
    setSort((s) => (s.field === field ? { field, direction: s.direction === 'ASC' ? 'DESC' : 'ASC' } : { field, direction: 'ASC' }));

  const confirmRemove = async (a: EditableAttendee) => {
    setActionError(null);
    const response = await remove({ id: a.id });
    setRemoving(null);
    if (response.data?.removeAttendee) {
      setNotice(`Removed ${a.firstName} ${a.lastName}.`);
      reload();
    } else {
      setActionError(errorSummary(response.error));
    }
  };

  const onJump = (event: FormEvent) => {
    event.preventDefault();
    const n = Number(jump);
    if (Number.isInteger(n) && n >= 1 && n <= pages) dispatch({ type: 'jump', page: n, pageSize: ATTENDEES_PAGE_SIZE });
  };

  const exportCsv = async () => {
    setActionError(null);
    const query = queryString({ conferenceId, search, ...filter });
    try {
      await downloadFile(`/admin/export/attendees.csv?${query}`, token, `attendees-${conferenceId}.csv`);
    } catch (e) {
      setActionError(e instanceof DownloadError ? e.message : 'The export failed.');
    }
  };

  if (editing) {
    return (
      <AttendeeEditor
        attendee={editing}
        onDone={(saved) => {
          if (saved) {
            setNotice(`Saved ${editing.firstName} ${editing.lastName}.`);
            reload();
          }
          setEditing(null);
        }}
      />
    );
  }

  const narrowed = Boolean(search || filter);
  return (
    <>
      <PageHeading
        subtitle={
          <span data-testid="attendee-count" aria-live="polite">
            {live.count === null ? '…' : plural(live.count, 'attendee')} registered
            {live.latest && <> · newest: {live.latest}</>}
          </span>
        }
      >
        Attendees
      </PageHeading>
      <div className="toolbar">
        <SearchField
          id="attendee-search"
          label="Search"
          value={searchText}
          onChange={setSearchText}
          placeholder="Name, email, company, position, city, state"
          resultId="search-result"
        />
        <p id="search-result" className="muted" role="status" data-testid="search-result">
          {page && !fetching && shownSearch
            ? `${plural(page.totalCount, 'match', 'matches')} for “${shownSearch}”`
            : page && !fetching
              ? plural(page.totalCount, 'attendee')
              : fetching
                ? 'Searching…'
                : ''}
        </p>
        <div className="toolbar__actions">
          <button type="button" className="button button--secondary button--small" onClick={exportCsv}>
            {narrowed ? 'Export matching (CSV)' : 'Export all (CSV)'}
          </button>
          {isAdmin && (
            <button
              type="button"
              className="button button--secondary button--small"
              aria-expanded={importing}
              onClick={() => setImporting((v) => !v)}
            >
              Import CSV
            </button>
          )}
        </div>
      </div>
      <details className="filters">
        <summary>Filter by column{filter ? ` (${Object.keys(filter).length} active)` : ''}</summary>
        <div className="filters__grid">
          {filterFields.map((f) => (
            <div className="field" key={f}>
              <label htmlFor={`filter-${f}`}>{registrationFields[f].label}</label>
              <input
                id={`filter-${f}`}
                type="search"
                value={filterText[f]}
                onChange={(e) => setFilterText((x) => ({ ...x, [f]: e.target.value }))}
              />
            </div>
          ))}
        </div>
        {filter && (
          <button type="button" className="button button--link" onClick={() => setFilterText(noFilters)}>
            Clear filters
          </button>
        )}
      </details>
      {importing && (
        <AttendeeImport
          conferenceId={conferenceId}
          onImported={() => {
            reload();
          }}
        />
      )}
      {notice && (
        <Alert kind="success">
          <span data-testid="attendee-notice">{notice}</span>
        </Alert>
      )}
      {actionError && <Alert title="That did not work">{actionError}</Alert>}
      {error && (
        <Alert title={page ? 'Could not refresh the attendees; showing the last list' : 'Could not load the attendees'}>
          {errorSummary(error)}{' '}
          <button type="button" className="button button--secondary button--small" onClick={reload}>
            Retry
          </button>
        </Alert>
      )}
      {fetching && !data && <Loading />}
      {page && page.nodes.length === 0 && (
        <p className="empty">{narrowed ? 'No attendee matches that search.' : 'Nobody has registered yet.'}</p>
      )}
      {page && page.nodes.length > 0 && (
        <div className={`table-wrap${loadingOther || error ? ' is-stale' : ''}`}>
          <table className="table table--stack attendees-table" data-testid="attendees-table">
            <caption className="visually-hidden">
              Attendees {rangeLabel(shownStart, page.nodes.length, page.totalCount)}
              {shownSearch ? `, matching “${shownSearch}”` : ''}
            </caption>
            <thead>
              <tr>
                {columns.map((c) => (
                  <th
                    scope="col"
                    key={c.sort}
                    aria-sort={sort.field === c.sort ? (sort.direction === 'ASC' ? 'ascending' : 'descending') : undefined}
                  >
                    <button type="button" className="sort-button" onClick={() => toggleSort(c.sort)}>
                      {c.label}
                      <span aria-hidden="true" className="sort-button__arrow">
                        {sort.field === c.sort ? (sort.direction === 'ASC' ? ' ▲' : ' ▼') : ''}
                      </span>
                    </button>
                  </th>
                ))}
                {isAdmin && (
                  <th scope="col">
                    <span className="visually-hidden">Actions</span>
                  </th>
                )}
              </tr>
            </thead>
            <tbody aria-busy={fetching}>
              {page.nodes.map((a) => (
                <tr key={a.id}>
                  <th scope="row" data-label="Name">
                    <Cell value={`${a.firstName} ${a.lastName}`} />
                  </th>
                  <td data-label="Email">
                    <a href={`mailto:${a.email}`} className="cell-text" title={a.email}>
                      {a.email}
                    </a>
                  </td>
                  <td data-label="Company">
                    <Cell value={a.company} />
                  </td>
                  <td data-label="Job position">
                    <Cell value={a.jobPosition} />
                  </td>
                  <td data-label="City">
                    <Cell value={a.city} />
                  </td>
                  <td data-label="State">
                    <Cell value={a.state} />
                  </td>
                  <td data-label="Registered">{formatDateTime(a.submittedAt)}</td>
                  {isAdmin && (
                    <td className="row-actions">
                      {removing === a.id ? (
                        <span className="confirm-inline" role="group" aria-label={`Remove ${a.firstName} ${a.lastName}?`}>
                          <span>Remove {a.firstName}?</span>
                          <button type="button" className="button button--danger button--small" onClick={() => confirmRemove(a)}>
                            Yes, remove
                          </button>
                          <button type="button" className="button button--secondary button--small" onClick={() => setRemoving(null)}>
                            Keep
                          </button>
                        </span>
                      ) : (
                        <>
                          <button
                            type="button"
                            className="button button--secondary button--small"
                            aria-label={`Edit ${a.firstName} ${a.lastName}`}
                            onClick={() => {
                              setNotice(null);
                              setEditing(a);
                            }}
                          >
                            Edit
                          </button>
                          <button
                            type="button"
                            className="button button--secondary button--small"
                            aria-label={`Remove ${a.firstName} ${a.lastName}`}
                            onClick={() => {
                              setNotice(null);
                              setRemoving(a.id);
                            }}
                          >
                            Remove
                          </button>
                        </>
                      )}
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {page && page.totalCount > 0 && (
        <nav className="pager" aria-label="Attendee pages">
          <button
            type="button"
            className="button button--secondary"
            onClick={() => dispatch({ type: 'previous', pageSize: ATTENDEES_PAGE_SIZE })}
            disabled={shownStart === 0 || fetching || stale !== null}
          >
            ← Previous
          </button>
          <span className="pager__page" aria-live="polite" data-testid="pager-range">
            {rangeLabel(shownStart, page.nodes.length, page.totalCount)}
          </span>
          <button
            type="button"
            className="button button--secondary"
            onClick={() => page.pageInfo.endCursor && dispatch({ type: 'next', endCursor: page.pageInfo.endCursor, pageSize: ATTENDEES_PAGE_SIZE })}
            disabled={!page.pageInfo.hasNextPage || fetching || stale !== null}
          >
            Next →
          </button>
          {pages > 1 && (
            <form className="pager__jump" onSubmit={onJump}>
              <label htmlFor="page-jump">
                Page <span className="visually-hidden">number, 1 to {pages}</span>
              </label>
              <input
                id="page-jump"
                type="number"
                inputMode="numeric"
                min={1}
                max={pages}
                placeholder={String(currentPage)}
                value={jump}
                onChange={(e) => setJump(e.target.value)}
              />
              <span className="muted" aria-hidden="true">
                of {pages}
              </span>
              <button type="submit" className="button button--secondary button--small" disabled={fetching || stale !== null}>
                Go
              </button>
            </form>
          )}
        </nav>
      )}
    </>
  );
}

/** Whether the signed-in token may change data; outside a session (tests), yes. */
function useIsAdmin(): boolean {
  const viewer = useViewer();
  return viewer === null || viewer.role === 'ADMIN';
}
