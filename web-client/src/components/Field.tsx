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

type TextFieldProps = Omit<FieldFrameProps, 'children' | 'counter'> &
  Omit<InputHTMLAttributes<HTMLInputElement>, 'id' | 'required'> & { max?: number; ref?: Ref<HTMLInputElement> };

export function TextField({ id, label, required, error, hint, max, ...input }: TextFieldProps) {
  const value = typeof input.value === 'string' ? input.value : '';
  return (
    <FieldFrame
      id={id}
      label={label}
      required={required}
      error={error}
      hint={hint}
      {...(max ? { counter: { value, max } } : {})}
    >
      <input
        id={id}
        name={id}
        aria-required={required || undefined}
        aria-invalid={error ? true : undefined}
        aria-describedby={describedBy(id, error, hint)}
        {...input}
      />
    </FieldFrame>
  );
}

type TextAreaFieldProps = Omit<FieldFrameProps, 'children' | 'counter'> &
  Omit<TextareaHTMLAttributes<HTMLTextAreaElement>, 'id' | 'required'> & { max?: number; ref?: Ref<HTMLTextAreaElement> };

export function TextAreaField({ id, label, required, error, hint, max, ...textarea }: TextAreaFieldProps) {
  const value = typeof textarea.value === 'string' ? textarea.value : '';
  return (
    <FieldFrame
      id={id}
      label={label}
      required={required}
      error={error}
      hint={hint}
      {...(max ? { counter: { value, max } } : {})}
    >
      <textarea
        id={id}
        name={id}
        aria-required={required || undefined}
        aria-invalid={error ? true : undefined}
        aria-describedby={describedBy(id, error, hint)}
        {...textarea}
      />
    </FieldFrame>
  );
}
