// Exposes tree-sitter-nix's generated parser as an N-API language object, the form
// node tree-sitter >= 0.21 expects. The npm tree-sitter-nix package only ships a nan
// binding, which those runtimes reject ("Invalid language object").
#include <napi.h>

typedef struct TSLanguage TSLanguage;

extern "C" TSLanguage *tree_sitter_nix();

// The type tag node tree-sitter checks on language externals.
static const napi_type_tag LANGUAGE_TYPE_TAG = {0x8AF2E5212AD58ABF, 0xD5006CAD83ABBA16};

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports["name"] = Napi::String::New(env, "nix");
  auto language = Napi::External<TSLanguage>::New(env, tree_sitter_nix());
  language.TypeTag(&LANGUAGE_TYPE_TAG);
  exports["language"] = language;
  return exports;
}

NODE_API_MODULE(tree_sitter_nix_binding, Init)
