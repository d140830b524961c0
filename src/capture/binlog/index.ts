// Binlog capture (`source.capture: binlog`): what the rest of syncline uses of it.
export { BinlogReader, BinlogFatalError, currentBinlogHead, type BinlogReaderOptions } from './reader.ts';
export {
  clearBinlogPosition,
  ensureBinlogStartPosition,
  positionFile as binlogPositionFile,
  readBinlogPosition,
  writeBinlogPosition,
  type BinlogPosition,
} from './position.ts';
export { binlogCascadeWarnings } from './cascades.ts';
export { binlogSeq } from './seq.ts';
