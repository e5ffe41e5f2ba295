// Names and keyboard access GraphiQL's editors lack: each CodeMirror text area gets a label
// for what it edits, and each scrolling editor area a tab stop so it can be scrolled from the
// keyboard. Applied as GraphiQL renders (and re-renders) them.
const LABELS: readonly [selector: string, label: string][] = [
  ['.graphiql-query-editor', 'Query editor'],
  ['.graphiql-editor-tool', 'Variables or headers editor'],
  ['.graphiql-response', 'Response'],
];

function labelEditors(root: HTMLElement): void {
  for (const textarea of root.querySelectorAll<HTMLTextAreaElement>('.CodeMirror textarea:not([aria-label])')) {
    const label = LABELS.find(([selector]) => textarea.closest(selector))?.[1] ?? 'Editor';
    textarea.setAttribute('aria-label', label);
  }
  // CodeMirror makes its scroller tabindex="-1"; a keyboard needs it reachable.
  for (const scroll of root.querySelectorAll<HTMLElement>('.CodeMirror-scroll:not([data-keyboard])')) {
    const label = LABELS.find(([selector]) => scroll.closest(selector))?.[1] ?? 'Editor';
    scroll.dataset.keyboard = 'scroll';
    scroll.tabIndex = 0;
    scroll.setAttribute('aria-label', `${label}, scrollable`);
  }
}

export function improveAccessibility(root: HTMLElement): void {
  labelEditors(root);
  new MutationObserver(() => labelEditors(root)).observe(root, { childList: true, subtree: true });
}
