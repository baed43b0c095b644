/**
 * `nixdisk lsp`: the language server. This file only wires LSP messages to the features,
 * one file each (diagnostics, hover, completion, code actions), all of them reading the
 * same analysis `nixdisk check` makes, cached per document version.
 */
import {
  CodeActionKind,
  createConnection,
  TextDocuments,
  TextDocumentSyncKind,
  type Connection,
} from 'vscode-languageserver/node';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { packageVersion } from '../package.js';
import { codeActions } from './code-actions.js';
import { complete } from './completion.js';
import { DEBOUNCE_MS, Debouncer, toLspDiagnostic } from './diagnostics.js';
import { AnalysisCache, isTooLarge, MAX_ANALYSED_CHARS } from './documents.js';
import { hover } from './hover.js';
import { NativeMemoryGuard } from './memory.js';

export function serve(connection: Connection): void {
  const documents = new TextDocuments(TextDocument);
  const cache = new AnalysisCache();
  const debouncer = new Debouncer();
  const memory = new NativeMemoryGuard();
  /** The version whose diagnostics the client has, so an open followed by its change event publishes once. */
  const published = new Map<string, number>();

  /** Documents the user was told are too large, so the message comes once, not per keystroke. */
  const toldTooLarge = new Set<string>();

  const publish = (uri: string): void => {
    const document = documents.get(uri);
    if (!document || published.get(uri) === document.version) return;
    if (isTooLarge(document.getText()) && !toldTooLarge.has(uri)) {
      toldTooLarge.add(uri);
      connection.console.info(`nixdisk: ${uri} is over ${MAX_ANALYSED_CHARS} characters; not checking it as you type (run \`nixdisk check\` on it)`);
    }
    try {
      const analyzed = cache.get(document);
      published.set(uri, document.version);
      void connection.sendDiagnostics({ uri, version: document.version, diagnostics: analyzed.analysis.diagnostics.map(toLspDiagnostic) });
      if (analyzed.parsed) memory.analysed(analyzed.text.length);
    } catch (error) {
      // A timer callback that throws would end the process: report and carry on.
      connection.console.error(`nixdisk: could not analyse ${uri}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    }
  };

  connection.onInitialize(() => ({
    capabilities: {
      textDocumentSync: { openClose: true, change: TextDocumentSyncKind.Incremental },
      hoverProvider: true,
      completionProvider: { triggerCharacters: ['"'] },
      codeActionProvider: { codeActionKinds: [CodeActionKind.QuickFix] },
    },
    serverInfo: { name: 'nixdisk', version: packageVersion() },
  }));

  documents.onDidOpen(({ document }) => publish(document.uri));
  documents.onDidChangeContent(({ document }) => {
    debouncer.schedule(document.uri, DEBOUNCE_MS, () => publish(document.uri));
  });
  documents.onDidClose(({ document }) => {
    debouncer.cancel(document.uri);
    cache.forget(document.uri);
    published.delete(document.uri);
    toldTooLarge.delete(document.uri);
    void connection.sendDiagnostics({ uri: document.uri, diagnostics: [] });
  });

  // Each request reads the analysis of the document as it is now, however recent the last publish.
  connection.onHover(({ textDocument, position }) => {
    const document = documents.get(textDocument.uri);
    return document ? hover(cache.get(document), position) : null;
  });
  connection.onCompletion(({ textDocument, position }) => {
    const document = documents.get(textDocument.uri);
    return document ? complete(cache.get(document), position) : [];
  });
  connection.onCodeAction(({ textDocument, range }) => {
    const document = documents.get(textDocument.uri);
    return document ? codeActions(cache.get(document), range) : [];
  });

  documents.listen(connection);
  connection.listen();
}

/** The server over this process's stdin and stdout, the only transport editors need. */
export function serveStdio(): void {
  serve(createConnection(process.stdin, process.stdout));
}
