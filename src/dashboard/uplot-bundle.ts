// Browser entry of the live dashboard's chart library: uPlot from npm, bundled by the
// build so that the page loads nothing from a CDN.
import uPlot from 'uplot';

export { uPlot };
