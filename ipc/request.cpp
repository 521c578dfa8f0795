#include "ipc/request.hpp"

#include <rapidjson/error/en.h>

namespace booklore::ipc {

request::request(rapidjson::Document doc) : doc_(std::move(doc)) {
    if (const rapidjson::Value* t = field("type"); t && t->IsString())
        type_.assign(t->GetString(), t->GetStringLength());
}

const rapidjson::Value* request::id() const {
    const rapidjson::Value* v = field("id");
    return v && (v->IsString() || v->IsNumber()) ? v : nullptr;
}

const rapidjson::Value* request::field(const char* name) const {
    auto it = doc_.FindMember(name);
    return it == doc_.MemberEnd() || it->value.IsNull() ? nullptr : &it->value;
}

std::variant<request, message> parse_request(std::string_view line) {
    if (!line.empty() && line.back() == '\r')
        line.remove_suffix(1);
    rapidjson::Document doc;
    // Invalid UTF-8 is refused here so that nothing stored or echoed is malformed; the
    // iterative parser keeps deeply nested input from exhausting the stack.
    doc.Parse<rapidjson::kParseValidateEncodingFlag | rapidjson::kParseIterativeFlag>(line.data(),
                                                                                      line.size());
    if (doc.HasParseError())
        return message::error(error_kind::invalid_json,
                              std::string("not valid JSON: ") +
                                  rapidjson::GetParseError_En(doc.GetParseError()) + " at byte " +
                                  std::to_string(doc.GetErrorOffset()));
    if (!doc.IsObject())
        return message::error(error_kind::invalid_request,
                              "a request must be one JSON object per line");
    request req(std::move(doc));
    if (const rapidjson::Value* id = req.field("id"); id && !req.id())
        return message::error(error_kind::invalid_field, "\"id\" must be a string or a number",
                              "id");
    const rapidjson::Value* type = req.field("type");
    if (!type)
        return req.error(error_kind::invalid_request, "the request has no \"type\"", "type");
    if (!type->IsString())
        return req.error(error_kind::invalid_field, "\"type\" must be a string", "type");
    return req;
}

}  // namespace booklore::ipc
