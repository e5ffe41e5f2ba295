// Creating or editing a conference: name, date, price with its currency, address and an
// optional region. The server checks everything again; its errors land next to the field.
import { useState, type FormEvent } from 'react';
import { useMutation } from 'urql';
import { CreateConferenceMutation, UpdateConferenceMutation } from '../../api/operations';
import { TextField } from '../../components/Field';
import { ErrorSummary, useFormErrors } from '../../components/ErrorSummary';
import { FormActions } from '../../components/ui';

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
const labels: Record<Field, string> = {
  name: 'Name',
  startsOn: 'Starts on',
  price: 'Ticket price',
  currency: 'Currency',
  address: 'Address',
  region: 'State or region',
};

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
  const [created, create] = useMutation(CreateConferenceMutation);
  const [updated, update] = useMutation(UpdateConferenceMutation);
  const busy = created.fetching || updated.fetching;
  const prefix = conference?.id ? `conference-${conference.id}` : 'new-conference';
  const { errors, summaryProps, check, refused } = useFormErrors(order, (f) => labels[f], (f) => `${prefix}-${f}`);

  const onSubmit = async (event: FormEvent) => {
    event.preventDefault();
    if (!check(checkConference(form))) return;
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
    refused(response.error);
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
      <ErrorSummary title={conference?.id ? 'The changes were not saved' : 'The conference was not created'} {...summaryProps} />
      <TextField {...field('name', labels.name)} required />
      <div className="grid-2">
        <TextField {...field('startsOn', labels.startsOn)} type="date" required />
        <TextField {...field('address', labels.address)} required />
      </div>
      <div className="grid-2">
        <TextField {...field('price', labels.price)} inputMode="decimal" required />
        <TextField {...field('currency', labels.currency)} hint="ISO code, e.g. EUR, USD, GBP" maxLength={3} required />
      </div>
      <TextField {...field('region', labels.region)} hint="Leave empty where the address has none." />
      <FormActions
        busy={busy}
        busyLabel="Saving…"
        submitLabel={conference?.id ? 'Save conference' : 'Create conference'}
        onCancel={() => onDone(false)}
      />
    </form>
  );
}
