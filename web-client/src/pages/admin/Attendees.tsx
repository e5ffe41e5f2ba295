import { useState } from 'react';
import { useQuery } from 'urql';
import { errorSummary } from '../../api/errors';
import { AttendeesQuery } from '../../api/operations';
import { Alert, Loading, PageHeading, Pager } from '../../components/ui';
import { useDebounced, usePageTitle } from '../../hooks/common';
import { useCursorPager } from '../../hooks/useCursorPager';
import { useLiveAttendeeCount } from '../../hooks/live';
import { formatDateTime, plural } from '../../lib/format';

export const ATTENDEES_PAGE_SIZE = 25;

export function Attendees({ conferenceId }: { conferenceId: string }) {
  usePageTitle('Attendees');
  const [searchText, setSearchText] = useState('');
  const search = useDebounced(searchText.trim(), 300);
  const pager = useCursorPager(`${conferenceId}|${search}`);
  const [{ data, fetching, error }] = useQuery({
    query: AttendeesQuery,
    variables: { conferenceId, first: ATTENDEES_PAGE_SIZE, after: pager.after, search: search || null },
  });
  const live = useLiveAttendeeCount(conferenceId);
  const page = data?.attendees;

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
        <div className="field field--inline">
          <label htmlFor="attendee-search">Search</label>
          <input
            id="attendee-search"
            type="search"
            value={searchText}
            onChange={(e) => setSearchText(e.target.value)}
            placeholder="Name, email or company"
            aria-describedby="search-result"
          />
        </div>
        <p id="search-result" className="muted" role="status" data-testid="search-result">
          {page && search
            ? `${plural(page.totalCount, 'match', 'matches')} for “${search}”`
            : page
              ? `${plural(page.totalCount, 'attendee')}`
              : ''}
        </p>
      </div>
      {error && <Alert>{errorSummary(error)}</Alert>}
      {fetching && !data && <Loading />}
      {page && page.nodes.length === 0 && (
        <p className="empty">{search ? 'No attendee matches that search.' : 'Nobody has registered yet.'}</p>
      )}
      {page && page.nodes.length > 0 && (
        <div className="table-wrap">
          <table className="table table--stack">
            <caption className="visually-hidden">
              Attendees, page {pager.page}
              {search ? `, matching “${search}”` : ''}
            </caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Email</th>
                <th scope="col">Company</th>
                <th scope="col">Job position</th>
                <th scope="col">City</th>
                <th scope="col">Registered</th>
              </tr>
            </thead>
            <tbody aria-busy={fetching}>
              {page.nodes.map((a) => (
                <tr key={a.id}>
                  <th scope="row" data-label="Name">
                    {a.firstName} {a.lastName}
                  </th>
                  <td data-label="Email">
                    <a href={`mailto:${a.email}`}>{a.email}</a>
                  </td>
                  <td data-label="Company">{a.company}</td>
                  <td data-label="Job position">{a.jobPosition}</td>
                  <td data-label="City">
                    {a.city}, {a.state}
                  </td>
                  <td data-label="Registered">{formatDateTime(a.submittedAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {page && (page.pageInfo.hasNextPage || pager.page > 1) && (
        <Pager
          label="Attendee pages"
          page={pager.page}
          hasNext={page.pageInfo.hasNextPage}
          onPrevious={pager.previous}
          onNext={() => pager.next(page.pageInfo.endCursor)}
          busy={fetching}
        />
      )}
    </>
  );
}
