/// Seed 004's aiohttp application, route for route:
///
///     async def indexhandle(request):
///         return web.Response(text=request.path, status=201)
///     async def handle(request):
///         return web.Response(text=request.match_info.get('id', '0000'), status=200)
///     app.router.add_get("/", indexhandle)
///     app.router.add_get("/{id}", handle)
///
/// `add_get` also answers HEAD (the same head, no body). Any other path is
/// 404 and any other method 405, with aiohttp's bodies (`404: Not Found`).
/// `{id}` is one path segment (no `/`), percent-decoded; the query is not part of it.
func route(_ request: Request) -> Response {
    guard request.method == "GET" || request.method == "HEAD" else {
        var response = Response.error(405)
        response.fields.append(("Allow", "GET, HEAD"))
        return response
    }
    if request.rawPath == "/" { return .text(request.path, status: 201) }
    let segment = request.rawPath.dropFirst()
    if !segment.isEmpty, !segment.contains("/"), let id = percentDecoded(segment) {
        return .text(id, status: 200)
    }
    return .error(404)
}
