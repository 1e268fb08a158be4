import { createPeerHttpBackend } from '../client/peer-http-backend.js'
import { CommandFailedError, UsageError } from './errors.js'
import { ApiError, apiFailureOf } from './api-failure.js'
import { checkApiUrl, tokenFrom } from './http-get.js'
import type { Tier } from '../membership/types.js'

export interface CompleteFlags {
  api: string
  token?: string
  model?: string
  tier?: string
  stream?: boolean
  maxTokens?: string
  json?: boolean
}

/** One completion through the peer at `--api`; prints the text, then which peer served it. */
export async function runComplete (prompt: string, flags: CompleteFlags): Promise<void> {
  const tier = flags.tier != null ? parseTier(flags.tier) : undefined
  const maxTokens = flags.maxTokens != null ? Number(flags.maxTokens) : undefined
  if (maxTokens != null && (!Number.isInteger(maxTokens) || maxTokens <= 0)) throw new UsageError('--max-tokens: expected a positive integer')
  const token = tokenFrom(flags.token)
  checkApiUrl(flags.api)
  const client = createPeerHttpBackend({ baseUrl: flags.api, token })
  const controller = new AbortController()
  process.once('SIGINT', () => { controller.abort() })
  try {
    const answer = await client.complete(
      { messages: [{ role: 'user', content: prompt }], model: flags.model, tier, max_tokens: maxTokens },
      { signal: controller.signal, onDelta: flags.stream === true && flags.json !== true ? d => { process.stdout.write(d.content) } : undefined }
    )
    if (typeof answer?.node?.name !== 'string' || answer.message == null) throw new ApiError(flags.api, { kind: 'not-a-peer', path: '/api/complete', what: 'a completion' })
    if (flags.json === true) {
      process.stdout.write(JSON.stringify(answer, null, 2) + '\n')
      return
    }
    if (flags.stream !== true) process.stdout.write(answer.message.content ?? '')
    process.stdout.write('\n')
    for (const call of answer.message.tool_calls ?? []) process.stdout.write(`tool call: ${call.function.name}(${call.function.arguments})\n`)
    process.stderr.write(`served by ${answer.node.name} (tier ${answer.node.tier}, ${answer.model}, ${answer.usage.completion_tokens} tokens, ${answer.finish_reason})\n`)
  } catch (err: any) {
    if (err instanceof ApiError) throw err
    // Not reaching the peer reads the same as in `status`; a completion the mesh ran and failed says so.
    const failure = apiFailureOf(err, token != null)
    if (failure != null) throw new ApiError(flags.api, failure)
    throw new CommandFailedError(`completion failed: ${err?.message ?? err}`)
  } finally {
    await client.close()
  }
}

function parseTier (text: string): Tier {
  if (text === '0' || text === '1' || text === '2') return Number(text) as Tier
  throw new UsageError('--tier: expected 0, 1 or 2')
}
