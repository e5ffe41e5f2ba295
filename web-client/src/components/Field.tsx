import type { InputHTMLAttributes, ReactNode, Ref, TextareaHTMLAttributes } from 'react';
import { charCount } from '../lib/validation';

interface FieldFrameProps {
  id: string;
  label: string;
  required?: boolean;
  error?: string | undefined;
  hint?: ReactNode;
  counter?: { value: string; max: number };
  children: ReactNode;
}

/** A label, the control, a hint and the error that concerns it, wired for screen readers. */
export function FieldFrame({ id, label, required, error, hint, counter, children }: FieldFrameProps) {
  const count = counter ? charCount(counter.value) : 0;
  return (
    <div className={`field${error ? ' field--invalid' : ''}`}>
      <label htmlFor={id}>
        {label}
        {required ? (
          <span className="required" aria-hidden="true">
            {' '}
            *
          </span>
        ) : (
          <span className="optional"> (optional)</span>
        )}
      </label>
      {children}
      {(hint || counter) && (
        <div className="field__meta">
          {hint && (
            <span id={`${id}-hint`} className="hint">
              {hint}
            </span>
          )}
          {counter && count > counter.max * 0.8 && (
            <span className={`counter${count > counter.max ? ' counter--over' : ''}`} aria-live="polite">
              {count}/{counter.max}
            </span>
          )}
        </div>
      )}
      {/* Not an alert: the form's error summary announces the problems once, together. */}
      <p id={`${id}-error`} className="field__error" hidden={!error}>
        {error}
      </p>
    </div>
  );
}

function describedBy(id: string, error?: string, hint?: ReactNode): string | undefined {
  const ids = [hint ? `${id}-hint` : null, error ? `${id}-error` : null].filter(Boolean);
  return ids.length ? ids.join(' ') : undefined;
}

type FramedControlProps = Omit<FieldFrameProps, 'children' | 'counter'> & { max?: number; value?: unknown };

/**
 * Splits a text control's props between its frame (with a counter where there is a `max`)
 * and the control itself, which also gets the attributes that tie it to its label, hint and
 * error; the caller's own attributes come last and win.
 */
function framed<P extends FramedControlProps>({ id, label, required, error, hint, max, ...control }: P) {
  const value = typeof control.value === 'string' ? control.value : '';
  return {
    frame: { id, label, required, error, hint, ...(max ? { counter: { value, max } } : {}) },
    control: {
      id,
      name: id,
      'aria-required': required || undefined,
      'aria-invalid': error ? true : undefined,
      'aria-describedby': describedBy(id, error, hint),
      ...control,
    },
  };
}

type TextFieldProps = Omit<FieldFrameProps, 'children' | 'counter'> &
  Omit<InputHTMLAttributes<HTMLInputElement>, 'id' | 'required'> & { max?: number; ref?: Ref<HTMLInputElement> };

export function TextField(props: TextFieldProps) {
  const { frame, control } = framed(props);
  return (
    <FieldFrame {...frame}>
      <input {...control} />
    </FieldFrame>
  );
}

type TextAreaFieldProps = Omit<FieldFrameProps, 'children' | 'counter'> &
  Omit<TextareaHTMLAttributes<HTMLTextAreaElement>, 'id' | 'required'> & { max?: number; ref?: Ref<HTMLTextAreaElement> };

export function TextAreaField(props: TextAreaFieldProps) {
  const { frame, control } = framed(props);
  return (
    <FieldFrame {...frame}>
      <textarea {...control} />
    </FieldFrame>
  );
}

/** A search box with its label beside it, as toolbars have it; `resultId` names the text that reports what it found. */
export function SearchField({
  id,
  label,
  value,
  onChange,
  placeholder,
  resultId,
  maxLength,
}: {
  id: string;
  label: string;
  value: string;
  onChange(value: string): void;
  placeholder: string;
  resultId: string;
  maxLength?: number;
}) {
  return (
    <div className="field field--inline">
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        type="search"
        value={value}
        maxLength={maxLength}
        onChange={(e) => onChange(e.target.value)}
        placeholder={placeholder}
        aria-describedby={resultId}
      />
    </div>
  );
}
