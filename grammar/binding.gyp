{
  "targets": [
    {
      "target_name": "tree_sitter_nix_binding",
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "include_dirs": ["../node_modules/tree-sitter-nix/src"],
      "sources": [
        "src/binding.cc",
        "../node_modules/tree-sitter-nix/src/parser.c",
        "../node_modules/tree-sitter-nix/src/scanner.c"
      ],
      "cflags_c": ["-std=c11", "-Wno-unused-parameter"]
    }
  ]
}
