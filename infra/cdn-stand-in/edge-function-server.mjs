// The viewer stages of a CloudFront edge, for tests/edge/test_caching_proxy.py.
//
//   node edge-function-server.mjs <function.mjs> <listen port> <edge cache port>
//
// Every viewer request is turned into a CloudFront Function viewer-request event and given to the
// real handler (infra/cloudfront/verify-token.js, keys filled in by
// tests/edge/cloudfront_function.py), and so is every answer, as a viewer-response event, since
// cloudfront.json associates the function with both events. As in CloudFront:
// - a response object from the viewer-request function is answered here, before any cache or
//   origin sees the request (CloudFront marks those "X-Cache: FunctionGeneratedResponse from
//   cloudfront"), and no viewer-response function runs for it;
// - a request object goes on, with the function's changes, to the cache (the edge nginx);
// - the cache's answer goes to the viewer-response function unless its status is 400 or more
//   (CloudFront runs none for those), and on to the viewer with the function's changes to its
//   status and headers; the body is the cache's unless the function gives one.
// The event's request is the one the viewer-request function returned: CloudFront's docs leave it
// open whether a viewer-response event shows those changes, and this is the reading that would
// hide from the response side anything the request side took away.
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

// Adds one value of a query parameter, header or cookie to its CloudFront Functions object:
// the first as `value`, and all of them in `multiValue` once there is more than one.
function addField(fields, name, field) {
    const entry = fields[name];
    if (entry === undefined) {
        fields[name] = field;
    } else {
        entry.multiValue = entry.multiValue || [{ ...entry }];
        entry.multiValue.push(field);
    }
}

// Every value of a field, multiValue first (CloudFront applies a changed multiValue over value).
function fieldValues(entry) {
    return entry.multiValue ? entry.multiValue : [entry];
}

// The event CloudFront (cloudfront-js-2.0) gives a viewer-request function.
function viewerRequestEvent(req) {
    const url = new URL(req.url, 'http://viewer.invalid');
    const querystring = {};
    for (const [name, value] of url.searchParams) {
        addField(querystring, name, { value });
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

// The cache's answer as a CloudFront Functions response object: its Set-Cookie headers as
// `cookies` (CloudFront keeps them out of `headers`), and no body (a function cannot read it).
function responseOf(cached) {
    const headers = {};
    const cookies = {};
    const raw = cached.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) {
        const name = raw[i].toLowerCase();
        if (name === 'set-cookie') {
            const [pair, ...attributes] = raw[i + 1].split(';');
            const equals = pair.indexOf('=');
            const cookie = { value: pair.slice(equals + 1).trim() };
            if (attributes.length > 0) {
                cookie.attributes = attributes.join(';').trim();
            }
            addField(cookies, pair.slice(0, equals).trim(), cookie);
        } else if (!HOP_BY_HOP.has(name)) {
            addField(headers, name, { value: raw[i + 1] });
        }
    }
    const { statusCode, statusMessage } = cached;
    return { statusCode, statusDescription: statusMessage, headers, cookies };
}

// The event CloudFront gives a viewer-response function.
function viewerResponseEvent(req, request, cached) {
    return {
        version: '1.0',
        context: { eventType: 'viewer-response' },
        viewer: { ip: req.socket.remoteAddress },
        request,
        response: responseOf(cached),
    };
}

function queryString(querystring) {
    const parts = [];
    for (const [name, entry] of Object.entries(querystring || {})) {
        for (const { value } of fieldValues(entry)) {
            parts.push(encodeURIComponent(name) + '=' + encodeURIComponent(value));
        }
    }
    return parts.length > 0 ? '?' + parts.join('&') : '';
}

// The HTTP headers of a function's response object, cookies back in Set-Cookie.
function responseHeaders(response) {
    const headers = {};
    for (const [name, entry] of Object.entries(response.headers || {})) {
        const values = fieldValues(entry).map((field) => field.value);
        headers[name] = values.length === 1 ? values[0] : values;
    }
    const cookies = [];
    for (const [name, entry] of Object.entries(response.cookies || {})) {
        for (const { value, attributes } of fieldValues(entry)) {
            cookies.push(name + '=' + value + (attributes ? '; ' + attributes : ''));
        }
    }
    if (cookies.length > 0) {
        headers['set-cookie'] = cookies;
    }
    return headers;
}

// The body a function's response object gives, or null when it gives none.
function bodyOf(response) {
    if (typeof response.body === 'string') {
        return Buffer.from(response.body);
    }
    if (response.body) {
        const encoding = response.body.encoding === 'base64' ? 'base64' : 'utf8';
        return Buffer.from(response.body.data, encoding);
    }
    return null;
}

// A response the viewer-request function generated (a refused token): sent as is.
function answer(res, generated) {
    const headers = responseHeaders(generated);
    headers['x-cache'] = 'FunctionGeneratedResponse from edge-function';
    const body = bodyOf(generated) || Buffer.alloc(0);
    headers['content-length'] = String(body.length);
    res.writeHead(generated.statusCode, generated.statusDescription, headers);
    res.end(body);
}

// CloudFront answers 503 when a function fails.
function functionFailed(res, error) {
    console.error('function failed:', error);
    res.writeHead(503, { 'content-type': 'text/plain' });
    res.end('edge function failed');
}

// The cache's answer, through the viewer-response function, to the viewer.
async function respond(req, res, request, cached) {
    let result = responseOf(cached);
    if (cached.statusCode < 400) {
        try {
            result = await handler(viewerResponseEvent(req, request, cached));
        } catch (error) {
            cached.resume();
            functionFailed(res, error);
            return;
        }
    }
    const headers = responseHeaders(result);
    const body = bodyOf(result);
    if (body !== null) {
        // The function's body replaces the cache's, whose length no longer applies.
        cached.resume();
        headers['content-length'] = String(body.length);
        res.writeHead(result.statusCode, result.statusDescription, headers);
        res.end(body);
        return;
    }
    res.writeHead(result.statusCode, result.statusDescription, headers);
    cached.pipe(res);
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
            respond(req, res, request, cached).catch((error) => {
                // CloudFront answers 502 when a function's output is not a valid response.
                console.error('viewer response failed:', error);
                cached.resume();
                if (!res.headersSent) {
                    res.writeHead(502, { 'content-type': 'text/plain' });
                }
                res.end('edge function: ' + error.message);
            });
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
        functionFailed(res, error);
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
