"""Fallback TLS terminator, used by run.sh only when `ztd serve --tls-cert` does not come up.

usage: tls_proxy.py LISTEN_PORT BACKEND_PORT CERT KEY

Accepts HTTPS on 127.0.0.1:LISTEN_PORT and forwards HTTP/1.1 to 127.0.0.1:BACKEND_PORT, adding
`X-Forwarded-Proto: https` to every request (ztd builds `@odata.nextLink` from Host and that header). Requests
are framed by Content-Length (the SDKs send no chunked bodies); responses are copied byte for byte.
"""

import asyncio
import ssl
import sys


async def pump_requests(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head[:-4].split(b"\r\n")
            length = 0
            out = [lines[0]]
            for line in lines[1:]:
                name = line.split(b":", 1)[0].strip().lower()
                if name == b"x-forwarded-proto":
                    continue
                if name == b"content-length":
                    length = int(line.split(b":", 1)[1].strip())
                if name == b"transfer-encoding":
                    raise RuntimeError("chunked request bodies are not supported by the test proxy")
                out.append(line)
            out.append(b"X-Forwarded-Proto: https")
            writer.write(b"\r\n".join(out) + b"\r\n\r\n")
            if length:
                writer.write(await reader.readexactly(length))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        try:
            writer.write_eof()
        except (OSError, RuntimeError):
            pass


async def pump_raw(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def main() -> None:
    listen_port, backend_port, cert, key = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            backend_r, backend_w = await asyncio.open_connection("127.0.0.1", backend_port)
        except OSError:
            client_w.close()
            return
        await asyncio.gather(pump_requests(client_r, backend_w), pump_raw(backend_r, client_w))
        backend_w.close()

    server = await asyncio.start_server(handle, "127.0.0.1", listen_port, ssl=ctx)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
