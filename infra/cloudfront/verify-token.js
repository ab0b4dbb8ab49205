// CloudFront Function (cloudfront-js-2.0, viewer-request) for clip stream URLs.
//
// Checks the same token origin/signing.py makes: ?exp=<unix seconds>&sig=<base64url
// HMAC-SHA256 of "<path>?exp=<exp>"> under any of the keys (the first signs, the others
// still verify while a key is rotated out). A bad token gets a 403 with no-store; a good
// one is removed from the query before the cache lookup, so every viewer's token maps to
// one cached object. Thumbnails are public and pass untouched.
//
// __ORIGIN_SIGNING_KEYS__ is replaced with the comma-separated keys at deploy time
// (CloudFront Functions cannot read the environment).
import crypto from 'crypto';

const KEYS = '__ORIGIN_SIGNING_KEYS__'.split(',').filter((k) => k.length > 0);
const STREAM_PATH = /^\/videos\/clips\/[0-9]+\/stream\/v[0-9]+$/;

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

function base64url(base64) {
    return base64.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
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
    const message = path + '?exp=' + parseInt(exp, 10);
    for (const key of KEYS) {
        const expected = base64url(crypto.createHmac('sha256', key).update(message).digest('base64'));
        if (sameString(expected, sig)) {
            return null;
        }
    }
    return 'invalid token';
}

async function handler(event) {
    const request = event.request;
    if (!STREAM_PATH.test(request.uri)) {
        return request;
    }
    const query = request.querystring || {};
    const exp = query.exp && query.exp.value;
    const sig = query.sig && query.sig.value;
    const problem = verify(request.uri, exp, sig, Math.floor(Date.now() / 1000));
    if (problem !== null) {
        return forbidden(problem);
    }
    delete query.exp;
    delete query.sig;
    request.querystring = query;
    return request;
}
