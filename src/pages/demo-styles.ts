/**
 * The demo pages' look, shared by the native and the Pusher demo; each page has its own
 * accent colour, so that two tabs of different demos are told apart at a glance.
 */
export function demoStyles(accent: string, muted: string, extra = ''): string {
  return `<style>
  :root { font-family: system-ui, sans-serif; color: #1d2433; background: #f4f6fa; }
  body { margin: 0; display: grid; place-items: center; min-height: 100vh; }
  main { width: min(760px, 96vw); background: #fff; border-radius: 12px; box-shadow: 0 4px 24px #0001; padding: 20px 24px; box-sizing: border-box; }
  header { display: flex; align-items: baseline; justify-content: space-between; gap: 12px; flex-wrap: wrap; }
  h1 { font-size: 1.3rem; margin: 0; }
  .hint { font-size: .85rem; color: #5b6578; margin: 6px 0 14px; }
  .pill { font-size: .8rem; padding: 3px 10px; border-radius: 999px; background: #fdecea; color: #b3261e; }
  .pill.up { background: #e6f4ea; color: #0a7d38; }
  .status { font-size: .8rem; color: #5b6578; margin-bottom: 12px; }
  form { display: flex; gap: 8px; margin-bottom: 12px; }
  input { flex: 1; min-width: 0; padding: 8px 10px; border: 1px solid #c9d0dc; border-radius: 8px; font-size: .95rem; }
  button { padding: 8px 14px; border: 0; border-radius: 8px; background: ${accent}; color: #fff; font-size: .95rem; cursor: pointer; }
  button:disabled { background: ${muted}; cursor: default; }
  #send-form { margin: 12px 0 0; }
  .panes { display: grid; grid-template-columns: 1fr 180px; gap: 12px; }
  #messages { list-style: none; margin: 0; padding: 10px; height: 300px; overflow-y: auto; border: 1px solid #e3e7ee; border-radius: 8px; }
  #messages li { padding: 3px 0; overflow-wrap: anywhere; }
  #messages .me { color: ${accent}; } #messages .sys { color: #8a93a5; font-style: italic; font-size: .9rem; }
  aside { border: 1px solid #e3e7ee; border-radius: 8px; padding: 10px; }
  aside h2 { font-size: .85rem; margin: 0 0 6px; color: #5b6578; }
  #members { list-style: none; margin: 0; padding: 0; }
  #members li { padding: 2px 0; }
  #members li::before { content: "● "; color: #0a7d38; font-size: .7rem; vertical-align: middle; }
  @media (max-width: 560px) { .panes { grid-template-columns: 1fr; } }
${extra}</style>
`;
}
