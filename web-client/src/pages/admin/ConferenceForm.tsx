// Creating or editing a conference: name, date, price with its currency, address and an
// optional region. The server checks everything again; its errors land next to the field.
import { useState, type FormEvent } from 'react';
import { useMutation } from 'urql';
import { errorSummary, formErrors } from '../../api/errors';
import { CreateConferenceMutation, UpdateConferenceMutation } from '../../api/operations';
import { TextField } from '../../components/Field';
import { Alert } from '../../components/ui';

export interface ConferenceValues {
  id?: string;
  name: string;
  startsOn: string;
  price: number;
  address: string;
  currency: string;
  region?: string | null;
}

type Field = 'name' | 'startsOn' | 'price' | 'currency' | 'address' | 'region';
const order: Field[] = ['name', 'startsOn', 'price', 'currency', 'address', 'region'];

export function checkConference(form: Record<Field, string>): Partial<Record<Field, string>> {
  const errors: Partial<Record<Field, string>> = {};
  if (!form.name.trim()) errors.name = 'This field is required.';
  if (!/^\d{4}-\d{2}-\d{2}$/.test(form.startsOn)) errors.startsOn = 'Enter the first day of the conference.';
  const price = Number(form.price);
  if (form.price.trim() === '' || !Number.isFinite(price) || price < 0 || price > 1_000_000) {
    errors.price = 'Enter a price between 0 and 1,000,000.';
  }
  if (!/^[A-Za-z]{3}$/.test(form.currency.trim())) errors.currency = 'Enter a three-letter code such as EUR or USD.';
  if (!form.address.trim()) errors.address = 'This field is required.';
  return errors;
}

export function ConferenceForm({ conference, onDone }: { conference?: ConferenceValues; onDone(saved: boolean): void }) {
  const [form, setForm] = useState<Record<Field, string>>({
    name: conference?.name ?? '',
    startsOn: conference?.startsOn ?? '',
    price: conference ? String(conference.price) : '',
    currency: conference?.currency ?? 'EUR',
    address: conference?.address ?? '',
    region: conference?.region ?? '',
  });
  const [errors, setErrors] = useState<Partial<Record<Field, string>>>({});
  const [general, setGeneral] = useState<string[]>([]);
  const [created, create] = useMutation(CreateConferenceMutation);
  const [updated, update] = useMutation(UpdateConferenceMutation);
  const busy = created.fetching || updated.fetching;
  const prefix = conference?.id ? `conference-${conference.id}` : 'new-conference';

  const onSubmit = async (event: FormEvent) => {
    event.preventDefault();
    setGeneral([]);
    const local = checkConference(form);
    setErrors(local);
    const firstBad = order.find((f) => local[f]);
    if (firstBad) {
      document.getElementById(`${prefix}-${firstBad}`)?.focus();
      return;
    }
    const input = {
      name: form.name.trim(),
      startsOn: form.startsOn,
      price: Number(form.price),
      currency: form.currency.trim().toUpperCase(),
      address: form.address.trim(),
      region: form.region.trim() || null,
    };
    const response = conference?.id ? await update({ id: conference.id, input }) : await create({ input });
    if (response.data) return onDone(true);
    const mapped = formErrors(response.error, order);
    setErrors(mapped.fields);
    setGeneral(mapped.general.length || Object.keys(mapped.fields).length ? mapped.general : [errorSummary(response.error)]);
  };

  const field = (name: Field, label: string) => ({
    id: `${prefix}-${name}`,
    label,
    value: form[name],
    error: errors[name],
    onChange: (e: { target: { value: string } }) => {
      const value = e.target.value;
      setForm((f) => ({ ...f, [name]: value }));
    },
  });

  return (
    <form className="card form" onSubmit={onSubmit} noValidate aria-label={conference?.id ? `Edit ${conference.name}` : 'New conference'}>
      {general.length > 0 && (
        <Alert title={conference?.id ? 'The changes were not saved' : 'The conference was not created'}>
          {general.map((g) => (
            <p key={g}>{g}</p>
          ))}
        </Alert>
      )}
      <TextField {...field('name', 'Name')} required />
      <div className="grid-2">
        <TextField {...field('startsOn', 'Starts on')} type="date" required />
        <TextField {...field('address', 'Address')} required />
      </div>
      <div className="grid-2">
        <TextField {...field('price', 'Ticket price')} inputMode="decimal" required />
        <TextField {...field('currency', 'Currency')} hint="ISO code, e.g. EUR, USD, GBP" maxLength={3} required />
      </div>
      <TextField {...field('region', 'State or region')} hint="Leave empty where the address has none." />
      <div className="actions">
        <button type="submit" className="button button--primary" disabled={busy}>
          {busy ? 'Saving…' : conference?.id ? 'Save conference' : 'Create conference'}
        </button>
        <button type="button" className="button button--secondary" onClick={() => onDone(false)}>
          Cancel
        </button>
      </div>
    </form>
  );
}
