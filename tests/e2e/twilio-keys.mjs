// Twilio as the window meets it in the E2E run: Prism (serving Twilio's own OpenAPI
// description) behind a loopback proxy that notes which auth token each request carried, so a
// test can tell which key a send used. Prism itself accepts any key.
//
//   node twilio-keys.mjs PORT PRISM_URL
//   GET /__keys  -> [{ method, path, token }] of every request forwarded so far
import http from "node:http";

const [port, prism] = [Number(process.argv[2]), new URL(process.argv[3])];
const seen = [];

http
  .createServer((req, res) => {
    if (req.url === "/__keys") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(seen));
      return;
    }
    const auth = req.headers.authorization ?? "";
    const basic = auth.startsWith("Basic ") ? Buffer.from(auth.slice(6), "base64").toString("utf8") : "";
    seen.push({ method: req.method, path: req.url, token: basic.includes(":") ? basic.slice(basic.indexOf(":") + 1) : null });
    const upstream = http.request(
      { hostname: prism.hostname, port: prism.port, path: req.url, method: req.method, headers: { ...req.headers, host: prism.host } },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on("error", (e) => {
      res.writeHead(502, { "content-type": "application/json" });
      res.end(JSON.stringify({ message: `prism: ${e.message}` }));
    });
    req.pipe(upstream);
  })
  .listen(port, "127.0.0.1");
