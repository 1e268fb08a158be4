// Retrieval-augmented generation through a harombe peer with the official `openai` client:
// embed the documents and the question (routed to a peer that serves the embedding model),
// pick the closest documents, then ask the chat model with them as context.
//
//   npx tsx examples/rag.ts [api-url] [question]
//
// HAROMBE_EMBED_MODEL and HAROMBE_MODEL name the embedding and chat models (default: the first listed).
import OpenAI from 'openai'

const api = process.argv[2] ?? process.env.HAROMBE_API ?? 'http://127.0.0.1:8000'
const question = process.argv[3] ?? 'Which peer answers when one dies mid-answer?'
const docs = [
  'A peer that dies mid-answer hands the answer to another peer serving the same model.',
  'Model files are shared over the mesh, verified by sha256.',
  'Each peer announces its models, tier and load to the others.'
]

const openai = new OpenAI({ baseURL: `${api}/v1`, apiKey: process.env.HAROMBE_TOKEN ?? 'unused' })
const listed = (await openai.models.list()).data.map(m => m.id)
const embedModel = process.env.HAROMBE_EMBED_MODEL ?? listed[0] ?? 'auto'
const chatModel = process.env.HAROMBE_MODEL ?? listed[0] ?? 'auto'

const cosine = (a: number[], b: number[]): number => {
  let dot = 0; let na = 0; let nb = 0
  for (let i = 0; i < a.length; i++) { dot += a[i]! * b[i]!; na += a[i]! ** 2; nb += b[i]! ** 2 }
  return dot / (Math.sqrt(na * nb) || 1)
}

// One request for all documents; the client asks for base64 and decodes it itself.
const { data: docVectors } = await openai.embeddings.create({ model: embedModel, input: docs })
const { data: [query] } = await openai.embeddings.create({ model: embedModel, input: question })
const ranked = docs
  .map((text, i) => ({ text, score: cosine(query!.embedding, docVectors[i]!.embedding) }))
  .sort((a, b) => b.score - a.score)
  .slice(0, 2)

const answer = await openai.chat.completions.create({
  model: chatModel,
  messages: [
    { role: 'system', content: `Answer from these notes only:\n${ranked.map(d => `- ${d.text}`).join('\n')}` },
    { role: 'user', content: question }
  ]
})
console.log(`context: ${ranked.map(d => `${d.score.toFixed(3)} ${d.text}`).join(' | ')}`)
console.log(`answer: ${answer.choices[0]?.message.content ?? ''}`)
