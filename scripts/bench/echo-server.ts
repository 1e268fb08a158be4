// A plain TCP echo server for the rtt part: the floor a round trip between two Node processes on
// this machine can reach, measured in the same run as the mesh's estimate. Reports its port over IPC.
import { createServer } from 'node:net'

const server = createServer(socket => {
  socket.setNoDelay(true)
  socket.on('data', data => { socket.write(data) })
})
server.listen(0, '127.0.0.1', () => {
  const address = server.address()
  process.send?.({ port: typeof address === 'object' && address != null ? address.port : 0 })
})
// The parent kills it; if the parent dies first, the IPC channel closing ends it too.
process.on('disconnect', () => { process.exit(0) })
