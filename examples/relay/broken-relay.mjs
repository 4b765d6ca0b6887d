// The HUD's broken relay: `relay.mjs` with its three bugs planted (all by default).
//
//   realtime-conformance run --relay "node examples/relay/broken-relay.mjs" \
//       --relay-url "ws://127.0.0.1:{port}/relay"
//   node examples/relay/broken-relay.mjs --bugs swallow-errors   # one bug alone
//
// * beta-header: it adds `OpenAI-Beta: realtime=v1` upstream (the live server answers
//   with an error and close 4000);
// * swallow-errors: it drops every upstream `error` event instead of forwarding it;
// * silent-close: when upstream closes, it leaves the client's connection open and
//   says nothing, so the client waits forever.
import { BUGS, main } from "./relay.mjs";

main(BUGS);
