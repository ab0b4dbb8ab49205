// The viewer-request stage of a CloudFront edge, for tests/edge/test_caching_proxy.py.
//
//   node edge_function_server.mjs <function.mjs> <listen port> <edge cache port>
//
// Every viewer request is turned into a CloudFront Function event and given to the real
// handler (infra/cloudfront/verify-token.js, keys filled in by tests/edge/cloudfront_function.py).
// As in CloudFront:
// - a response object from the function is answered here, before any cache or origin sees the
//   request (CloudFront marks those "X-Cache: FunctionGeneratedResponse from cloudfront");
// - a request object goes on, with the function's changes (the token taken out of the query), to
//   the cache (the edge nginx), whose answer is passed back unchanged.
// The function runs for every path; it passes anything that is not a stream URL untouched, so this
// equals cloudfront.json's association of the function with the stream behaviour only.
import http from 'node:http';
import { pathToFileURL } from 'node:url';

const [functionPath, listenPort, cachePort] = process.argv.slice(2);
const { default: handler } = await import(pathToFileURL(functionPath).href);
const agent = new http.Agent({ keepAlive: true });
// Connection-level headers belong to one hop; node sets its own.
const HOP_BY_HOP = new Set([
    'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade',
]);

// The event CloudFront (cloudfront-js-2.0) gives a viewer-request function.
function viewerRequestEvent(req) {
    const url = new URL(req.url, 'http://viewer.invalid');
    const querystring = {};
    for (const [name, value] of url.searchParams) {
        const entry = querystring[name];
        if (entry === undefined) {
            querystring[name] = { value };
        } else {
            entry.multiValue = entry.multiValue || [{ value: entry.value }];
            entry.multiValue.push({ value });
        }
    }
    const headers = {};
    for (const [name, value] of Object.entries(req.headers)) {
        headers[name] = { value: Array.isArray(value) ? value.join(', ') : value };
    }
    return {
        version: '1.0',
        context: { eventType: 'viewer-request' },
        viewer: { ip: req.socket.remoteAddress },
        request: { method: req.method, uri: url.pathname, querystring, headers, cookies: {} },
    };
}

function queryString(querystring) {
    const parts = [];
    for (const [name, entry] of Object.entries(querystring || {})) {
        const values = entry.multiValue ? entry.multiValue.map((v) => v.value) : [entry.value];
        for (const value of values) {
            parts.push(encodeURIComponent(name) + '=' + encodeURIComponent(value));
        }
    }
    return parts.length > 0 ? '?' + parts.join('&') : '';
}

// A response the function generated (a refused token): sent as is.
function answer(res, generated) {
    const headers = { 'x-cache': 'FunctionGeneratedResponse from edge-function' };
    for (const [name, header] of Object.entries(generated.headers || {})) {
        headers[name] = header.value;
    }
    let body = Buffer.alloc(0);
    if (typeof generated.body === 'string') {
        body = Buffer.from(generated.body);
    } else if (generated.body) {
        const encoding = generated.body.encoding === 'base64' ? 'base64' : 'utf8';
        body = Buffer.from(generated.body.data, encoding);
    }
    headers['content-length'] = String(body.length);
    res.writeHead(generated.statusCode, generated.statusDescription, headers);
    res.end(body);
}

// The request the function let through, on to the edge cache.
function forward(req, res, request) {
    const headers = {};
    for (const [name, header] of Object.entries(request.headers || {})) {
        if (!HOP_BY_HOP.has(name)) {
            headers[name] = header.value;
        }
    }
    const upstream = http.request(
        {
            host: '127.0.0.1',
            port: Number(cachePort),
            method: request.method,
            path: request.uri + queryString(request.querystring),
            headers,
            agent,
        },
        (cached) => {
            const back = {};
            for (const [name, value] of Object.entries(cached.headers)) {
                if (!HOP_BY_HOP.has(name)) {
                    back[name] = value;
                }
            }
            res.writeHead(cached.statusCode, cached.statusMessage, back);
            cached.pipe(res);
        },
    );
    upstream.on('error', (error) => {
        if (!res.headersSent) {
            res.writeHead(502, { 'content-type': 'text/plain' });
        }
        res.end('edge function: ' + error.message);
    });
    // A viewer that leaves takes its request to the cache with it.
    res.on('close', () => {
        if (!res.writableFinished) {
            upstream.destroy();
        }
    });
    req.pipe(upstream);
}

const server = http.createServer(async (req, res) => {
    let result;
    try {
        result = await handler(viewerRequestEvent(req));
    } catch (error) {
        // CloudFront answers 503 when a function fails.
        console.error('function failed:', error);
        res.writeHead(503, { 'content-type': 'text/plain' });
        res.end('edge function failed');
        return;
    }
    if (result.statusCode !== undefined) {
        answer(res, result);
    } else {
        forward(req, res, result);
    }
});
server.keepAliveTimeout = 30000;
server.listen(Number(listenPort), '127.0.0.1', () => {
    console.log('listening on 127.0.0.1:' + listenPort);
});
// Should the test process die without stopping this one, do not outlive it.
const parent = process.ppid;
setInterval(() => {
    if (process.ppid !== parent) {
        process.exit(0);
    }
}, 1000).unref();
process.on('SIGTERM', () => {
    server.close();
    server.closeAllConnections();
    process.exit(0);
});
