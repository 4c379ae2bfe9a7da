// The Parquet workload: hyparquet reads two columns of a row range, through a file handle.
//
// Usage: node read_parquet.mjs FILE.parquet
//
// hyparquet asks its AsyncBuffer for byte ranges: first the footer (its default initial fetch is the
// last 512 KiB), then one range per column chunk it needs. The AsyncBuffer here serves each range with
// one FileHandle.read at that position, which libuv turns into a single pread64 on its thread pool, so a
// read hook sees exactly hyparquet's requests (hyparquet's own asyncBufferFromFile uses createReadStream,
// which would split them into 64 KiB reads).
import { open } from 'node:fs/promises'
import { parquetMetadataAsync, parquetReadObjects } from 'hyparquet'

async function fileBuffer(path) {
  const handle = await open(path, 'r')
  const { size } = await handle.stat()
  return {
    handle,
    byteLength: size,
    async slice(start, end = size) {
      const buf = Buffer.allocUnsafe(end - start)
      let done = 0
      while (done < buf.length) {
        const { bytesRead } = await handle.read(buf, done, buf.length - done, start + done)
        if (bytesRead === 0) throw new Error(`unexpected EOF at ${start + done} of ${path}`)
        done += bytesRead
      }
      return buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength)
    },
  }
}

const file = await fileBuffer(process.argv[2])
const metadata = await parquetMetadataAsync(file)
// A dashboard session on one open file: two columns of rows 300k-700k (row groups 1 and 2 of 4), then
// the status of the first 100k rows, then one column of the whole table.
const queries = [
  { columns: ['sensor', 'value'], rowStart: 300_000, rowEnd: 700_000 },
  { columns: ['ts', 'status'], rowStart: 0, rowEnd: 100_000 },
  { columns: ['value'] },
]
for (const q of queries) {
  const rows = await parquetReadObjects({ file, metadata, ...q })
  let sum = 0
  for (const r of rows) sum += typeof r.value === 'number' ? r.value : r.status.length
  console.log(`parquet ${q.columns.join(',')}: ${rows.length} rows, checksum ${sum.toFixed(3)}`)
}
await file.handle.close()
