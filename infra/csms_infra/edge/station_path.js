// CloudFront Function (runtime cloudfront-js-2.0), viewer request event.
//
// Chargers connect to wss://EDGE/ocpp/{stationId} (OCPP-J puts the station identity in the
// path), but an API Gateway WebSocket API accepts no path after its stage. This function moves the
// station id into the query string (`?station=<url-encoded id>`) and points the request at the
// stage root, which the origin path of the distribution maps to /{stage}. The local gateway applies
// the same rewrite, so both forms reach one $connect handler.
var PREFIX = '/ocpp/';

function reject(statusCode, statusDescription) {
  return { statusCode: statusCode, statusDescription: statusDescription };
}

function handler(event) {
  var request = event.request;
  if (request.uri.indexOf(PREFIX) !== 0) {
    return reject(404, 'Not Found');
  }
  var raw = request.uri.slice(PREFIX.length);
  if (raw === '' || raw.indexOf('/') !== -1) {
    return reject(404, 'Not Found');
  }
  var stationId;
  try {
    // Decode then re-encode, so `CP%2D1` and `CP-1` name the same station.
    stationId = decodeURIComponent(raw);
  } catch (e) {
    return reject(400, 'Bad Request');
  }
  request.uri = '/';
  // Replace the whole query string: a charger cannot smuggle in a second `station` parameter.
  request.querystring = { station: { value: encodeURIComponent(stationId) } };
  return request;
}
