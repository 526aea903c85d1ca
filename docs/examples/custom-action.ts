// A server with one custom action, `roll-dice`, run with `node dist/docs/examples/custom-action.js`.
// Under cluster this file runs again in every event worker, so the same actions exist everywhere.
import { createServer, defineAction, type ClientFrame } from 'conveyor-server';

type RollDice = ClientFrame & { sides: number };

const rollDice = defineAction<RollDice>({
  name: 'roll-dice',
  // A string is answered in the action's own envelope, an { error } as an `error` action.
  validate: (frame) =>
    Number.isInteger(frame['sides']) && (frame['sides'] as number) >= 2 ? undefined : { error: 'Field "sides" must be an integer of at least 2.' },
  handle: (context, frame) => {
    const roll = 1 + Math.floor(Math.random() * frame.sides);
    // Everyone in the sender's channel sees the roll, the sender included.
    context.broadcast('roll-dice', { sides: frame.sides, roll }, { includeSelf: true });
  },
});

const server = createServer({
  port: Number(process.env['PORT'] ?? 8989),
  workers: 2,
  actions: [rollDice],
});
await server.listen();
