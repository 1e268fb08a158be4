// A small agent on harombe-peer: it streams each answer and runs the tools the model asks for,
// through an LlmClient, so it does not care which peer (or which machine) runs the model.
//
//   npx harombe-peer start          # a peer on http://127.0.0.1:8000 (its bundled tiny model answers gibberish)
//   npm run example                 # or: npx tsx examples/agent.ts [api-url] [prompt]
//
// HAROMBE_API, HAROMBE_TOKEN and HAROMBE_MODEL set the API URL, the bearer token and the model.
import { createRemoteClient, UnauthorizedError, type ChatMessage, type CompletionAnswer, type LlmClient, type ToolCall, type ToolDefinition } from 'harombe-peer'

const TOOLS: ToolDefinition[] = [{
  type: 'function',
  function: {
    name: 'current_time',
    description: 'The current date and time in a time zone',
    parameters: { type: 'object', properties: { timezone: { type: 'string', description: 'IANA name, e.g. Asia/Tokyo' } }, required: ['timezone'] }
  }
}]

/** Model turns before giving up: a model that keeps calling tools must not loop forever. */
const MAX_TURNS = 4

/** The model only asks for a tool; the agent runs it, here in this process. */
function runTool (call: ToolCall): string {
  try {
    if (call.function.name !== 'current_time') throw new Error(`no tool named ${call.function.name}`)
    const { timezone } = JSON.parse(call.function.arguments) as { timezone?: string }
    return JSON.stringify({ timezone, time: new Date().toLocaleString('en-GB', { timeZone: timezone }) })
  } catch (err) {
    // Told to the model as the tool's result, so it can correct itself instead of the agent failing.
    return JSON.stringify({ error: (err as Error).message })
  }
}

async function runAgent (client: LlmClient, prompt: string, model: string | undefined, signal: AbortSignal): Promise<CompletionAnswer> {
  const messages: ChatMessage[] = [{ role: 'user', content: prompt }]
  for (let turn = 1; turn <= MAX_TURNS; turn++) {
    let answer: CompletionAnswer | undefined
    for await (const event of client.stream({ messages, tools: TOOLS, model }, { signal })) {
      if (event.type === 'delta') process.stdout.write(event.content)
      else answer = event.answer
    }
    if (answer == null) throw new Error('the stream ended without an answer')
    const calls = answer.message.tool_calls ?? []
    if (calls.length === 0) return answer
    messages.push({ role: 'assistant', content: answer.message.content, tool_calls: calls })
    for (const call of calls) {
      const result = runTool(call)
      process.stdout.write(`\ntool ${call.function.name}(${call.function.arguments}) -> ${result}\n`)
      messages.push({ role: 'tool', tool_call_id: call.id, name: call.function.name, content: result })
    }
  }
  throw new Error(`no final answer after ${MAX_TURNS} turns`)
}

const api = process.argv[2] ?? process.env.HAROMBE_API ?? 'http://127.0.0.1:8000'
const prompt = process.argv[3] ?? 'What time is it in Tokyo?'
const controller = new AbortController()
process.once('SIGINT', () => { controller.abort() })

try {
  // Closed at the end of the block, also when the agent throws.
  await using client = createRemoteClient({ baseUrl: api, token: process.env.HAROMBE_TOKEN })
  const models = await client.models({ signal: controller.signal })
  console.log(`models: ${models.map(m => `${m.name} (${m.nodes.map(n => n.name).join(', ')})`).join('; ') || 'none'}`)
  const answer = await runAgent(client, prompt, process.env.HAROMBE_MODEL, controller.signal)
  console.log(`\nserved by ${answer.node.name} (tier ${answer.node.tier}, ${answer.model}, ${answer.usage.completion_tokens} tokens)`)
} catch (err) {
  // Every failure is a typed error with the peer's message; a wrong token is one to act on.
  console.error(err instanceof UnauthorizedError ? `${err.message}: set HAROMBE_TOKEN to the peer's --token` : `agent failed: ${(err as Error).message}`)
  process.exitCode = 1
}
