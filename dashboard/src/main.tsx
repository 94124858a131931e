import { render } from 'preact';
import { useEffect } from 'preact/hooks';
import { signal } from '@preact/signals';
import { api, me, signOut, token, type ApiError } from './api.js';
import { live, liveState } from './live.js';
import { ManualPage } from './pages/Manual.js';
import { QueuePage } from './pages/Queue.js';
import { RunPage } from './pages/Run.js';
import { RunsPage } from './pages/Runs.js';
import { SignIn } from './pages/SignIn.js';
import './app.css';

/** The hash route: `#/runs`, `#/runs/<id>`, `#/queue`, `#/manual`. */
const route = signal(location.hash.slice(1) || '/runs');
addEventListener('hashchange', () => (route.value = location.hash.slice(1) || '/runs'));

function Page() {
  const path = route.value;
  const run = /^\/runs\/([^/]+)$/.exec(path);
  if (run) return <RunPage key={run[1]} runId={decodeURIComponent(run[1] as string)} />;
  if (path === '/queue') return <QueuePage />;
  if (path === '/manual') return <ManualPage />;
  return <RunsPage />;
}

function Shell() {
  useEffect(() => {
    live.start(token.value as string);
    return () => live.stop();
  }, []);
  // A new page: focus its heading, so a screen reader announces it and the keyboard starts from it.
  useEffect(() => {
    const heading = document.querySelector<HTMLElement>('main h1');
    if (heading) {
      heading.tabIndex = -1;
      heading.focus({ preventScroll: true });
    }
  }, [route.value]);
  const link = (href: string, label: string) => (
    <a href={`#${href}`} aria-current={route.value === href || (href === '/runs' && route.value.startsWith('/runs')) ? 'page' : undefined}>
      {label}
    </a>
  );
  return (
    <>
      <header>
        <strong class="brand">Troupe</strong>
        <nav aria-label="Main">
          {link('/runs', 'Runs')}
          {link('/queue', 'Queue')}
          {link('/manual', 'Manual testing')}
        </nav>
        <span class={`live live-${liveState.value}`} data-live={liveState.value} role="status">
          {liveState.value}
        </span>
        <span class="who">{me.value?.id}</span>
        <button type="button" onClick={() => signOut()}>
          Sign out
        </button>
      </header>
      <main>
        <Page />
      </main>
    </>
  );
}

function App() {
  useEffect(() => {
    // A token kept from earlier in this tab: check it is still good.
    // Only refused credentials sign out: a server restarting or a rate limit is not a reason to forget them.
    if (token.value && !me.value) api<{ id: string; roles: string[] }>('GET', '/v1/me').then((who) => (me.value = who), (err: ApiError) => (err.status === 401 ? signOut() : setTimeout(() => location.reload(), 3000)));
  }, []);
  if (!token.value) return <SignIn />;
  if (!me.value) return <p class="loading">Signing in…</p>;
  return <Shell />;
}

render(<App />, document.getElementById('app') as HTMLElement);
