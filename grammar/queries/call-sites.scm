; Applications that load a Nix file as a function: the "loaders" of a call site.
; @load is the loading application, @target the file expression it loads.
; find-call-sites.ts keeps the ones whose target names make-disk-image.nix and
; follows each @load outward to the application that passes the argument set.

; import X, callPackage X
((apply_expression
   function: (variable_expression name: (identifier) @loader)
   argument: (_) @target) @load
 (#any-of? @loader "import" "callPackage"))

; builtins.import X, pkgs.callPackage X, self.pkgs.callPackage X, …
((apply_expression
   function: (select_expression
     attrpath: (attrpath attr: (identifier) @loader .))
   argument: (_) @target) @load
 (#any-of? @loader "import" "callPackage"))

; scopedImport scope X, builtins.scopedImport scope X
((apply_expression
   function: (apply_expression
     function: [
       (variable_expression name: (identifier) @loader)
       (select_expression attrpath: (attrpath attr: (identifier) @loader .))
     ])
   argument: (_) @target) @load
 (#eq? @loader "scopedImport"))
