import { useState, type FormEvent } from 'react';
import { useSession } from '../../auth/session';
import { Alert, FormActions, PageHeading } from '../../components/ui';
import { usePageTitle } from '../../hooks/common';

export function SignIn({ notice }: { notice?: string | undefined }) {
  usePageTitle('Sign in');
  const { signIn } = useSession();
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const onSubmit = async (event: FormEvent) => {
    event.preventDefault();
    if (token.trim() === '') {
      setError('Enter your API token.');
      return;
    }
    setBusy(true);
    setError(null);
    const problem = await signIn(token.trim());
    setBusy(false);
    if (problem) setError(problem);
  };

  return (
    <div className="narrow">
      <PageHeading subtitle="The admin console needs an API token." takeFocus={false}>Sign in</PageHeading>
      {notice && <Alert kind="warning">{notice}</Alert>}
      <form className="card form" onSubmit={onSubmit} noValidate>
        <div className={`field${error ? ' field--invalid' : ''}`}>
          <label htmlFor="token">API token</label>
          <input
            id="token"
            name="token"
            type="password"
            autoComplete="off"
            spellCheck={false}
            value={token}
            onChange={(e) => setToken(e.target.value)}
            aria-invalid={error ? true : undefined}
            aria-describedby={`token-hint${error ? ' token-error' : ''}`}
            autoFocus
          />
          <div className="field__meta">
            <span className="hint" id="token-hint">
              <code>make run</code> prints an admin token when it starts; <code>techconf token create</code> makes more.
              It is kept in this browser for 12 hours and shared by its tabs; Sign out forgets it in every tab.
            </span>
          </div>
          <p id="token-error" className="field__error" role={error ? 'alert' : undefined} hidden={!error}>
            {error}
          </p>
        </div>
        <FormActions busy={busy} busyLabel="Checking…" submitLabel="Sign in" />
      </form>
    </div>
  );
}
