// Browser entry of the Pusher demo page: laravel-echo on pusher-js, bundled from npm as a
// Laravel app's Vite build would bundle them, so the page needs no CDN.
import Echo from 'laravel-echo';
import Pusher from 'pusher-js';

export { Echo, Pusher };
