/**
 * DOM helpers shared by the widgets and the JupyterLab views.
 */

/** A new `tag` element with `className` (when given) and text (when given). */
export function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className?: string,
  text?: string
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) {
    node.className = className;
  }
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}
