// @ts-check
// Switchboard's chat widget: the one script a trust pastes into its website.
//
//   <script src="https://HOST/chat/widget.js" data-entry="ADDRESS" async></script>
//
// Optional: data-service="the physiotherapy service" (names the chat's
// frame: "Chat with the physiotherapy service"), data-label="Chat with us".
//
// It adds a "Chat with us" button at the bottom right that opens and closes
// a panel holding the chat page (HOST/chat/?entry=ADDRESS) in an iframe.
// It works under the host page's strict Content-Security-Policy: no inline
// script or style, no eval, no innerHTML; styles are set through the CSSOM
// (element.style.x = …), which CSP allows. The host page needs only
// `script-src` and `frame-src` for HOST.
(function () {
  'use strict';

  var script = document.currentScript ||
    document.querySelector('script[src*="/chat/widget.js"][data-entry]') ||
    document.querySelector('script[src*="/chat/widget.js"]');
  if (!script) return;
  var entry = script.getAttribute('data-entry');
  if (!entry) {
    if (window.console) console.warn('Switchboard chat: the script tag needs data-entry="ADDRESS"');
    return;
  }
  var origin;
  try {
    origin = new URL(/** @type {HTMLScriptElement} */ (script).src, document.baseURI).origin;
  } catch (e) {
    return;
  }
  var label = script.getAttribute('data-label') || 'Chat with us';
  var service = script.getAttribute('data-service');
  var frameTitle = 'Chat with ' + (service || 'us');

  // One widget per entry point, however often the script is included.
  var key = 'switchboardChat' + entry.replace(/[^A-Za-z0-9]/g, '_');
  if (window[key]) return;
  window[key] = true;

  var n = 0;
  function uniqueId(base) {
    var id;
    do { id = base + (n ? '-' + n : ''); n += 1; } while (document.getElementById(id));
    return id;
  }

  function css(el, styles) {
    for (var k in styles) {
      if (Object.prototype.hasOwnProperty.call(styles, k)) el.style[k] = styles[k];
    }
  }

  var FOCUS_RING = { outline: '3px solid #ffeb3b', outlineOffset: '0', boxShadow: '0 0 0 6px #0b0c0c' };
  var NO_RING = { outline: 'none', boxShadow: '0 2px 6px rgba(0, 0, 0, 0.3)' };

  function init() {
    var panelId = uniqueId('switchboard-chat-panel');

    var button = document.createElement('button');
    button.type = 'button';
    button.textContent = label;
    button.setAttribute('aria-expanded', 'false');
    button.setAttribute('aria-controls', panelId);
    css(button, {
      position: 'fixed', right: '16px', bottom: '16px', zIndex: '2147483000',
      minHeight: '48px', minWidth: '48px', padding: '12px 20px', margin: '0',
      font: '600 16px/1.25 system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif',
      color: '#ffffff', background: '#005eb8', border: '2px solid #005eb8', borderRadius: '24px',
      cursor: 'pointer', textTransform: 'none', letterSpacing: 'normal', width: 'auto', height: 'auto',
    });
    css(button, NO_RING);
    button.addEventListener('focus', function () {
      var keyboard = true;
      try { keyboard = button.matches(':focus-visible'); } catch (e) { /* older browsers: always show */ }
      css(button, keyboard ? FOCUS_RING : NO_RING);
    });
    button.addEventListener('blur', function () { css(button, NO_RING); });
    button.addEventListener('mouseenter', function () { button.style.background = '#003d78'; });
    button.addEventListener('mouseleave', function () { button.style.background = '#005eb8'; });

    var panel = document.createElement('div');
    panel.id = panelId;
    panel.hidden = true;
    css(panel, {
      display: 'none', position: 'fixed', zIndex: '2147483000',
      right: 'max(0px, min(16px, 100vw - 380px))', bottom: '72px',
      width: 'min(380px, 100vw)', height: 'min(600px, calc(100vh - 80px))',
      background: '#ffffff', border: '1px solid #d8dde0', borderRadius: '8px',
      boxShadow: '0 4px 16px rgba(0, 0, 0, 0.25)', overflow: 'hidden', boxSizing: 'border-box',
    });

    var frame = null;
    function ensureFrame() {
      if (frame) return frame;
      frame = document.createElement('iframe');
      frame.src = origin + '/chat/?entry=' + encodeURIComponent(entry);
      frame.title = frameTitle;
      css(frame, { display: 'block', width: '100%', height: '100%', border: '0', margin: '0', padding: '0' });
      panel.appendChild(frame);
      return frame;
    }

    function isOpen() { return button.getAttribute('aria-expanded') === 'true'; }

    function open() {
      var f = ensureFrame();
      panel.hidden = false;
      panel.style.display = 'block';
      button.setAttribute('aria-expanded', 'true');
      button.textContent = 'Close chat';
      // Focus into the chat (once its page has loaded, the first time).
      if (f.getAttribute('data-loaded') === 'yes') f.focus();
      else f.addEventListener('load', function onLoad() {
        f.removeEventListener('load', onLoad);
        f.setAttribute('data-loaded', 'yes');
        if (isOpen()) f.focus();
      });
    }

    function close(returnFocus) {
      panel.hidden = true;
      panel.style.display = 'none';
      button.setAttribute('aria-expanded', 'false');
      button.textContent = label;
      if (returnFocus) button.focus();
    }

    button.addEventListener('click', function () {
      if (isOpen()) close(false);
      else open();
    });

    // Escape on the host page (focus on the button or the frame element).
    document.addEventListener('keydown', function (e) {
      if ((e.key === 'Escape' || e.key === 'Esc') && isOpen()) {
        close(true);
      }
    });
    // Escape pressed inside the chat page: it asks to be closed.
    window.addEventListener('message', function (e) {
      if (!frame || e.source !== frame.contentWindow || e.origin !== origin) return;
      if (e.data && e.data.switchboard === 'chat-close' && isOpen()) close(true);
    });

    document.body.appendChild(panel);
    document.body.appendChild(button);
  }

  if (document.body) init();
  else document.addEventListener('DOMContentLoaded', init);
})();
