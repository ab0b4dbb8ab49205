// CloudFront Function (cloudfront-js-2.0) for clip stream URLs, associated with the stream
// behaviour for both viewer events (cloudfront.json); event.context.eventType says which.
//
// viewer-request: checks the token origin/signing.py makes: ?exp=<unix seconds>&sig=<base64url
// HMAC-SHA256 of "<path>?exp=<exp>"> under any of the keys (the first signs, the others still
// verify while a key is rotated out). A bad token gets a 403 with no-store. A good one goes on
// to the cache as the viewer sent it: the behaviour's CachingOptimized cache policy keys on no
// query string and its CORS-S3Origin origin request policy forwards none, so every viewer's
// token maps to one cached object and the origin never sees a token (it trusts the
// X-Origin-Verify header instead; tests/edge/test_cloudfront_config.py pins both policies).
// The token is left in the query, not stripped, for the response side: the docs say a
// viewer-response event's request "represents the actual request that CloudFront received from
// the viewer", not whether it shows what a viewer-request function changed; left alone, the
// token is there on either reading.
//
// viewer-response: the origin answers an old version with a redirect to the current one, with no
// token (it never saw the viewer's), and the CDN caches that one redirect for every viewer. Each
// viewer's copy gets a token for the new path with the viewer's own expiry, never a later one,
// as the origin does when reached directly; the request's token is checked again first, so this
// side never signs for a request that did not carry a valid one. A redirect so signed is
// Cache-Control: private (shared caches must not keep a viewer's token). CloudFront runs no
// viewer-response function for a status of 400 or more, nor for a response made by a
// viewer-request function. Only Location values that stay on this host are signed: a path, or an
// http(s) URL naming the Host the viewer asked; and only for the same clip.
//
// __ORIGIN_SIGNING_KEYS__ is replaced with the comma-separated keys at deploy time
// (CloudFront Functions cannot read the environment). Only features the cloudfront-js-2.0 docs
// list are used: loops are `for`, which they list, not `for ... of`, which they do not.
import crypto from 'crypto';

const KEYS = '__ORIGIN_SIGNING_KEYS__'.split(',').filter((k) => k.length > 0);
const STREAM_PATH = /^\/videos\/clips\/([0-9]+)\/stream\/v[0-9]+$/;
// [1] scheme and '//', [2] host, [3] path, [4] query: a path, or a (scheme-relative) URL.
const LOCATION = /^(?:((?:https?:)?\/\/)([^/?#]+))?(\/[^?#]*)(?:\?([^#]*))?$/i;
const REDIRECTS = [301, 302, 303, 307, 308];

function forbidden(reason) {
    return {
        statusCode: 403,
        statusDescription: 'Forbidden',
        headers: {
            'content-type': { value: 'application/json' },
            'cache-control': { value: 'no-store' },
        },
        body: { encoding: 'text', data: JSON.stringify({ error: reason }) },
    };
}

function signature(path, exp, key) {
    const digest = crypto.createHmac('sha256', key).update(path + '?exp=' + exp).digest('base64');
    return digest.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

// Compares every character whatever the first difference, like hmac.compare_digest.
function sameString(a, b) {
    if (a.length !== b.length) {
        return false;
    }
    let diff = 0;
    for (let i = 0; i < a.length; i++) {
        diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
    }
    return diff === 0;
}

function verify(path, exp, sig, nowSeconds) {
    if (!exp || !sig) {
        return 'missing token';
    }
    if (!/^[0-9]{1,12}$/.test(exp)) {
        return 'malformed token';
    }
    if (parseInt(exp, 10) < nowSeconds) {
        return 'expired token';
    }
    for (let i = 0; i < KEYS.length; i++) {
        if (sameString(signature(path, parseInt(exp, 10), KEYS[i]), sig)) {
            return null;
        }
    }
    return 'invalid token';
}

function value(entry) {
    return entry ? entry.value : undefined;
}

// Why the request's token is not valid for its path, or null when it is.
function problemWith(request) {
    const query = request.querystring || {};
    return verify(request.uri, value(query.exp), value(query.sig), Math.floor(Date.now() / 1000));
}

function viewerRequest(request) {
    if (!STREAM_PATH.test(request.uri)) {
        return request;
    }
    const problem = problemWith(request);
    return problem === null ? request : forbidden(problem);
}

// The origin's Cache-Control for the viewer's own cache only.
function privately(cacheControl) {
    const kept = ['private'];
    const directives = (value(cacheControl) || '').split(',');
    for (let i = 0; i < directives.length; i++) {
        const directive = directives[i].trim();
        if (directive && !/^(public|private|s-maxage=.*)$/i.test(directive)) {
            kept.push(directive);
        }
    }
    return kept.join(', ');
}

// The new stream path (and the rest of the Location) when the response is a redirect from one
// version of a clip to another on this host, with no token yet; else null.
function redirectToStream(request, response) {
    const from = STREAM_PATH.exec(request.uri);
    const location = (response.headers || {}).location;
    if (!REDIRECTS.includes(response.statusCode) || from === null || !location
        || (location.multiValue && location.multiValue.length > 1)) {
        return null;
    }
    const to = LOCATION.exec(location.value);
    const target = to === null ? null : STREAM_PATH.exec(to[3]);
    if (target === null || target[1] !== from[1] || /(^|&)(exp|sig)=/.test(to[4] || '')) {
        return null;
    }
    const host = value((request.headers || {}).host);
    if (to[2] !== undefined && (!host || to[2].toLowerCase() !== host.toLowerCase())) {
        return null;
    }
    return { origin: (to[1] || '') + (to[2] || ''), path: to[3], query: to[4] || '' };
}

function viewerResponse(request, response) {
    const to = redirectToStream(request, response);
    if (to === null || problemWith(request) !== null) {
        return response;
    }
    const exp = parseInt(request.querystring.exp.value, 10);
    const token = 'exp=' + exp + '&sig=' + signature(to.path, exp, KEYS[0]);
    const query = to.query ? to.query + '&' + token : token;
    response.headers.location = { value: to.origin + to.path + '?' + query };
    response.headers['cache-control'] = { value: privately(response.headers['cache-control']) };
    return response;
}

async function handler(event) {
    if (event.context && event.context.eventType === 'viewer-response') {
        return viewerResponse(event.request, event.response);
    }
    return viewerRequest(event.request);
}
