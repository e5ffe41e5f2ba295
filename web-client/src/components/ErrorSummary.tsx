// One summary of what stops a form from being sent, at its top: a title, then each problem
// as a link to the field it concerns (general problems without a link). It is the form's
// one alert: the messages next to the fields repeat the detail without announcing it again.
import type { CombinedError } from '@urql/core';
import { useCallback, useEffect, useId, useRef, useState, type MouseEvent } from 'react';
import { errorSummary, formErrors } from '../api/errors';

export interface SummaryItem {
  /** The id of the field's control; none for a problem with the whole form. */
  id?: string;
  /** The form's name for the field, so the item can leave once the field is put right. */
  field?: string;
  message: string;
}

/**
 * The items of a summary: each field with an error in the form's order, as "Label: message",
 * then the general messages.
 */
export function summaryItems<F extends string>(
  errors: Partial<Record<F, string | undefined>>,
  order: readonly F[],
  label: (field: F) => string,
  id: (field: F) => string,
  general: readonly string[] = [],
): SummaryItem[] {
  const fields = order
    .filter((f) => errors[f])
    .map((f) => ({ id: id(f), field: f, message: `${label(f)}: ${errors[f] ?? ''}` }));
  return [...fields, ...general.map((message) => ({ message }))];
}

/**
 * What a form keeps for its summary: the items shown (as of the last submission, so it does
 * not change under the reader while they fix fields), and a count of submissions so the
 * summary takes focus after each.
 */
export function useErrorSummary() {
  const [state, setState] = useState<{ items: SummaryItem[]; attempt: number }>({ items: [], attempt: 0 });
  const show = useCallback((items: SummaryItem[]) => setState((s) => ({ items, attempt: s.attempt + 1 })), []);
  const clear = useCallback(() => setState((s) => (s.items.length ? { ...s, items: [] } : s)), []);
  return { items: state.items, attempt: state.attempt, show, clear };
}

/**
 * A form's field errors and its summary (`summaryProps` for its `ErrorSummary`). `check`
 * starts a submission with the form's own checks and says whether they passed; `refused`
 * shows what the server refused, each error next to its field, or all it said when none
 * concerns a field. `id` gives each field's control.
 */
export function useFormErrors<F extends string>(
  order: readonly F[],
  label: (field: F) => string,
  id: (field: F) => string,
  options: { conflictField?: F } = {},
) {
  const [errors, setErrors] = useState<Partial<Record<F, string>>>({});
  const summary = useErrorSummary();
  const show = (fieldErrors: Partial<Record<F, string>>, general: string[] = []) =>
    summary.show(summaryItems(fieldErrors, order, label, id, general));
  const check = (local: Partial<Record<F, string>>): boolean => {
    summary.clear();
    setErrors(local);
    if (!order.some((f) => local[f])) return true;
    show(local);
    return false;
  };
  const refused = (error: CombinedError | undefined) => {
    const mapped = formErrors(error, order, options);
    setErrors(mapped.fields);
    show(
      mapped.fields,
      mapped.general.length || Object.keys(mapped.fields).length ? mapped.general : [errorSummary(error)],
    );
  };
  const summaryProps = { items: summary.items, attempt: summary.attempt, fieldErrors: errors };
  return { errors, setErrors, summary, summaryProps, check, refused };
}

export function ErrorSummary({
  title,
  items: all,
  attempt,
  fieldErrors,
}: {
  title: string;
  items: readonly SummaryItem[];
  /** Changes on each submission that fails: the summary then takes focus. */
  attempt: number;
  /**
   * The form's field errors as they are now: a field put right since the submission leaves
   * the summary (quietly: a removal is not announced), so no fixed problem lingers.
   */
  fieldErrors?: Partial<Record<string, string | undefined>>;
}) {
  const items = all.filter((item) => !item.field || !fieldErrors || fieldErrors[item.field]);
  const ref = useRef<HTMLDivElement>(null);
  const titleId = useId();
  useEffect(() => {
    if (all.length > 0) ref.current?.focus();
    // Focus follows a new submission, not each re-render.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [attempt]);
  if (items.length === 0) return null;
  const go = (event: MouseEvent<HTMLAnchorElement>, id: string) => {
    const target = document.getElementById(id);
    if (!target) return;
    event.preventDefault();
    target.focus();
    target.scrollIntoView?.({ block: 'center' });
  };
  return (
    <div className="error-summary" role="alert" tabIndex={-1} ref={ref} aria-labelledby={titleId} data-testid="error-summary">
      <h2 id={titleId} className="error-summary__title">
        {title}
      </h2>
      <ul className="error-summary__list">
        {items.map((item, i) =>
          item.id ? (
            <li key={`${item.id}-${i}`}>
              <a href={`#${item.id}`} onClick={(e) => go(e, item.id ?? '')}>
                {item.message}
              </a>
            </li>
          ) : (
            <li key={`general-${i}`}>{item.message}</li>
          ),
        )}
      </ul>
    </div>
  );
}
