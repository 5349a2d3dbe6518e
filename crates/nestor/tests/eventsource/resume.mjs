// Usage: node resume.mjs BASE_URL LAST_REVISION
//
// Opens a standard EventSource on BASE_URL/api/v1/events?snapshot=true and prints one JSON line
// per event received ({type, id, revision, snapshot_end}), plus {"type":"open"} and
// {"type":"error"} lines for connection changes, until it has received the change with id
// LAST_REVISION. Reconnection and Last-Event-ID are entirely the library's.
import { EventSource } from "eventsource";

const [base, last] = process.argv.slice(2);
if (!base || !last) {
  console.error("usage: node resume.mjs BASE_URL LAST_REVISION");
  process.exit(2);
}
const print = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const es = new EventSource(`${base}/api/v1/events?snapshot=true`);
es.onopen = () => print({ type: "open" });
es.onerror = () => print({ type: "error" });
const handle = (type) => (e) => {
  const data = JSON.parse(e.data);
  print({
    type,
    id: e.lastEventId,
    revision: data.revision ?? null,
    snapshot_end: data.snapshot_end ?? null,
  });
  if (type.startsWith("component.") && type !== "component.snapshot" && e.lastEventId === last) {
    es.close();
    process.exit(0);
  }
};
for (const type of [
  "component.snapshot",
  "component.published",
  "component.updated",
  "component.deprecated",
  "component.undeprecated",
  "component.yanked",
  "component.unyanked",
  "catalog.bookmark",
  "catalog.reset",
]) {
  es.addEventListener(type, handle(type));
}
